using Hipache.Aspire.Admin;
using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.Admin.Certificates;
using Hipache.Aspire.Admin.Console;
using Hipache.Aspire.Admin.Http;
using Hipache.Aspire.Admin.Routers;
using Hipache.Aspire.Admin.OpenApi;
using Hipache.Aspire.Admin.Security;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(AdminMetrics.MeterName);
builder.AddRouteStore();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = RouteValidation.MaxRequestBodyBytes);

builder.Services.AddSingleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>();
builder.Services.AddOptions<AdminOptions>().Bind(builder.Configuration.GetSection(AdminOptions.SectionName)).ValidateOnStart();
builder.Services.AddSingleton<AdminMetrics>();
builder.Services.AddSingleton<FailedAuthCounter>();
builder.Services.AddHostedService<FailedAuthReporter>();
builder.Services.AddAdminCors(builder.Configuration);
builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
    .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
    .AddConsoleAuthentication(builder.Services);
builder.Services.AddAuthorization();
// The web console (/console): Razor Pages rendered on the server, behind their own sign-in.
builder.Services.AddRazorPages(pages =>
{
    pages.Conventions.AuthorizeFolder("/Console", ConsoleAuthentication.PolicyName);
    pages.Conventions.AllowAnonymousToPage("/Console/Login");
});
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<StoreExceptionHandler>();
builder.Services.AddOpenApi(options =>
{
    options.AddDocumentTransformer<ApiKeySecurityTransformer>();
    options.AddOperationTransformer<ApiKeySecurityTransformer>();
    options.AddSchemaTransformer<ExampleSchemaTransformer>();
    options.AddOperationTransformer<WriteWaitOpenApiTransformer>();
});
builder.Services.AddSingleton<AdminAudit>();
builder.Services.AddSingleton<AppIndex>();
builder.Services.AddSingleton<AppRegistry>();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<RouterFence>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<RouterFence>());
builder.Services.AddSingleton<WriteWaitFilter>();
builder.Services.AddSingleton<RouterListing>();

var app = builder.Build();
// First, so that its headers are on every response, the exception handler's and CORS's included.
app.UseMiddleware<SecurityHeadersMiddleware>();
app.UseExceptionHandler();
app.UseStatusCodePages();
// Before authentication: a preflight carries no key and must not be refused.
app.UseAdminCors();
app.UseAuthentication();
app.UseAuthorization();
app.UseMiddleware<Utf8BodyMiddleware>();

app.MapOpenApi();
// A fresh nonce per page view, for the page's Content-Security-Policy (SecurityHeadersMiddleware);
// the default fonts and telemetry would reach Scalar's servers, which that policy refuses anyway.
// The bearer scheme preselected, so that a pasted key is sent with every "Send".
app.MapScalarApiReference(scalar => scalar.WithTitle("Hipache.Aspire admin API").AddPreferredSecuritySchemes([ApiKeyAuthenticationHandler.SchemeName])
    .WithNonce().DisableDefaultFonts().DisableTelemetry());
app.MapDefaultEndpoints();
app.MapFrontendsApi().AddEndpointFilter<WriteWaitFilter>();
app.MapAppsApi().AddEndpointFilter<WriteWaitFilter>();
app.MapCertificatesApi().AddEndpointFilter<WriteWaitFilter>();
app.MapRoutersApi();
app.MapRazorPages();
app.Run();

/// <summary>Entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
