using Hipache.Aspire.Router.Forwarding;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>The router's own answers to gRPC calls: which requests are gRPC, which code an HTTP status becomes, grpc-message's encoding.</summary>
public sealed class GrpcAnswerTests
{
    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc+json", true)]
    [InlineData("Application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void A_grpc_call_is_told_by_its_content_type(string? contentType, bool grpc)
    {
        var context = new DefaultHttpContext();
        if (contentType is not null)
        {
            context.Request.ContentType = contentType;
        }

        Assert.Equal(grpc, GrpcAnswer.IsGrpc(context.Request));
    }

    [Theory]
    [InlineData(400, GrpcStatus.Internal)]
    [InlineData(401, GrpcStatus.Unauthenticated)]
    [InlineData(403, GrpcStatus.PermissionDenied)]
    [InlineData(404, GrpcStatus.Unimplemented)]
    [InlineData(429, GrpcStatus.Unavailable)]
    [InlineData(502, GrpcStatus.Unavailable)]
    [InlineData(503, GrpcStatus.Unavailable)]
    [InlineData(504, GrpcStatus.Unavailable)]
    [InlineData(405, GrpcStatus.Unknown)]
    [InlineData(501, GrpcStatus.Unknown)]
    internal void Http_statuses_map_as_the_grpc_specs_table(int status, GrpcStatus expected) =>
        Assert.Equal(expected, GrpcAnswer.FromHttpStatus(status));

    [Theory]
    [InlineData("frontend not found", "frontend not found")]
    [InlineData("100% down", "100%25 down")]
    [InlineData("caf\u00e9\nnext", "caf%C3%A9%0Anext")]
    public void Grpc_message_is_percent_encoded_utf8(string message, string encoded) =>
        Assert.Equal(encoded, GrpcAnswer.EncodeMessage(message));
}
