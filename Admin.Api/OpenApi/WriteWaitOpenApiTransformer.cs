using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Hipache.Aspire.Admin.OpenApi;

/// <summary>
/// Documents <c>?wait=</c> (Routers/WriteWaitFilter) on every write of <c>/v1/frontends</c> and
/// <c>/v1/apps</c>: the query parameter, the 202 answer and its headers, so that generated clients
/// and the Scalar page offer it.
/// </summary>
internal sealed class WriteWaitOpenApiTransformer : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var description = context.Description;
        var path = description.RelativePath ?? string.Empty;
        if (description.HttpMethod is not ("POST" or "PUT" or "DELETE")
            || !(path.StartsWith("v1/frontends", StringComparison.Ordinal) || path.StartsWith("v1/apps", StringComparison.Ordinal)))
        {
            return Task.CompletedTask;
        }

        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = "wait",
            In = ParameterLocation.Query,
            Required = false,
            Description = "Answer once every live router serves the write, waiting at most this long (500ms, 2s, 1.5s; at most Admin:MaxWriteWait). "
                + "All confirmed: the usual status with Hipache-Routers-Confirmed naming them; otherwise 202 naming the pending ones.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = @"^[0-9]+(\.[0-9]+)?(ms|s)$" },
        });
        operation.Responses ??= [];
        operation.Responses.TryAdd("202", new OpenApiResponse
        {
            Description = "Stored, but not every live router confirmed serving it within wait: { detail, confirmed: [{ id, afterMs }], pending: [ids], waitedMs }; header Hipache-Routers-Pending.",
        });
        return Task.CompletedTask;
    }
}
