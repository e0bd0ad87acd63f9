using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.Router.Tests.GrpcEcho;

/// <summary>
/// A real Grpc.AspNetCore server on an ephemeral loopback port that speaks HTTP/2 only (prior
/// knowledge, as a gRPC server behind a proxy usually does): an HTTP/1.1 request to it fails, so
/// a call that succeeds through the router proves the router spoke h2c to it.
/// </summary>
internal sealed class GrpcBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GrpcBackend(WebApplication app, int port, EchoState state)
    {
        _app = app;
        Port = port;
        State = state;
    }

    public int Port { get; }

    /// <summary>The backend as this project's extension writes it: HTTP/2 with prior knowledge.</summary>
    public string H2cUrl => $"h2c://127.0.0.1:{Port}";

    public EchoState State { get; }

    public static async Task<GrpcBackend> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        var state = new EchoState();
        builder.Services.AddSingleton(state);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        await app.StartAsync();
        return new GrpcBackend(app, new Uri(app.Urls.First()).Port, state);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>What the backend saw of the slow call: its deadline, and whether it ended by cancellation.</summary>
internal sealed class EchoState
{
    public TaskCompletionSource<DateTime> SlowDeadline { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource SlowCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class EchoService(EchoState state) : Echo.EchoBase
{
    public override Task<EchoReply> Unary(EchoRequest request, ServerCallContext context)
    {
        context.ResponseTrailers.Add("x-echo-trailer", "unary-" + request.Text);
        return Task.FromResult(Reply(request.Text, context));
    }

    public override async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        for (var i = 0; i < request.Count; i++)
        {
            var reply = Reply(request.Text, context);
            reply.Index = i;
            await responseStream.WriteAsync(reply, context.CancellationToken);
        }
    }

    public override async Task<EchoReply> ClientStream(IAsyncStreamReader<EchoRequest> requestStream, ServerCallContext context)
    {
        var texts = new List<string>();
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            texts.Add(request.Text);
        }

        return Reply(string.Join(",", texts), context);
    }

    public override async Task Duplex(IAsyncStreamReader<EchoRequest> requestStream, IServerStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        var index = 0;
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            var reply = Reply("echo:" + request.Text, context);
            reply.Index = index++;
            await responseStream.WriteAsync(reply, context.CancellationToken);
        }
    }

    public override async Task<EchoReply> Slow(EchoRequest request, ServerCallContext context)
    {
        state.SlowDeadline.TrySetResult(context.Deadline);
        try
        {
            await Task.Delay(request.DelayMs, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            state.SlowCancelled.TrySetResult();
            throw;
        }

        return Reply(request.Text, context);
    }

    public override Task<EchoReply> Fail(EchoRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.NotFound, "no echo for " + request.Text), new Metadata { { "x-echo-trailer", "failed" } });

    private static EchoReply Reply(string text, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        return new EchoReply
        {
            Text = text,
            Protocol = http.Request.Protocol,
            ForwardedProto = http.Request.Headers["X-Forwarded-Proto"].ToString(),
            GrpcTimeout = http.Request.Headers["grpc-timeout"].ToString(),
        };
    }
}
