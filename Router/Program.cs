using Hipache.Aspire.Router;

var app = RouterApplication.Create(args);
await app.RunAsync();
