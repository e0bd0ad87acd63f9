using Hipache.Aspire.DemoBackend;

// A tenant app for the demo: says who it is and what the router sent it, so that a newcomer can
// see the routing (which backend answered, the forwarding headers) with curl. It also serves a
// gRPC Greeter (with reflection, for grpcurl): demo-grpc runs it HTTP/2-only, as an h2c:// backend.
var builder = WebApplication.CreateSlimBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddGrpc();
builder.Services.AddGrpcReflection();
var app = builder.Build();
var name = app.Configuration["DEMO_NAME"] ?? builder.Environment.ApplicationName;

app.MapDefaultEndpoints();
app.MapGrpcService<GreeterService>();
app.MapGrpcReflectionService();
app.Map("/{**path}", (HttpRequest request) => Results.Text(
    $"""
    Hello from {name}
    {request.Method} {request.Path}{request.QueryString}
    Host: {request.Host}
    X-Forwarded-For: {request.Headers["X-Forwarded-For"]}
    X-Real-IP: {request.Headers["X-Real-IP"]}

    """));
app.Run();
