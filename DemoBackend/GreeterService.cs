using Grpc.Core;
using Hipache.Aspire.DemoBackend.Grpc;

namespace Hipache.Aspire.DemoBackend;

/// <summary>The demo's gRPC service: says which backend answered and what the router forwarded.</summary>
internal sealed class GreeterService(IConfiguration configuration, IHostEnvironment environment) : Greeter.GreeterBase
{
    private string Backend => configuration["DEMO_NAME"] ?? environment.ApplicationName;

    public override Task<HelloReply> SayHello(HelloRequest request, ServerCallContext context) => Task.FromResult(Reply(request.Name, context));

    public override async Task SayHellos(HelloRequest request, IServerStreamWriter<HelloReply> responseStream, ServerCallContext context)
    {
        for (var i = 1; i <= Math.Clamp(request.Count, 1, 100); i++)
        {
            await responseStream.WriteAsync(Reply($"{request.Name} #{i}", context), context.CancellationToken);
            await Task.Delay(100, context.CancellationToken);
        }
    }

    private HelloReply Reply(string name, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        return new HelloReply
        {
            Message = $"Hello {name}",
            Backend = Backend,
            Protocol = http.Request.Protocol,
            ForwardedProto = http.Request.Headers["X-Forwarded-Proto"].ToString(),
        };
    }
}
