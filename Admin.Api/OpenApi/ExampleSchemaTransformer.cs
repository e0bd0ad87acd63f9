using System.Text.Json.Nodes;
using Hipache.Aspire.Admin.Apis;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Hipache.Aspire.Admin.OpenApi;

/// <summary>Examples on the request bodies, so that the reference page offers a request that works as it is.</summary>
internal sealed class ExampleSchemaTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(FrontendWrite))
        {
            schema.Examples = [JsonNode.Parse("""{ "app": "shop", "backends": ["http://10.0.0.5:8080", "http://10.0.0.6:8080"] }""")!];
        }
        else if (type == typeof(AppWrite))
        {
            schema.Examples = [JsonNode.Parse("""{ "hosts": ["shop.example.com", "www.shop.example.com"], "backends": ["http://10.0.0.5:8080"] }""")!];
        }
        else if (type == typeof(BackendWrite))
        {
            schema.Examples = [JsonNode.Parse("""{ "url": "http://10.0.0.7:8080" }""")!];
        }

        return Task.CompletedTask;
    }
}
