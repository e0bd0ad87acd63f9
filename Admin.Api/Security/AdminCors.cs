using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Security;

/// <summary>CORS from <see cref="AdminCorsOptions"/>: nothing unless origins are configured.</summary>
internal static class AdminCors
{
    // What a browser page needs to drive the API: the key, JSON bodies, optimistic concurrency.
    private static readonly string[] RequestHeaders = ["Authorization", "Content-Type", "If-Match", "If-None-Match"];
    private static readonly string[] ResponseHeaders = ["ETag", "Location", "Retry-After"];

    public static IServiceCollection AddAdminCors(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<AdminCorsOptions>, AdminCorsOptionsValidator>();
        services.AddOptions<AdminCorsOptions>().Bind(configuration.GetSection(AdminCorsOptions.SectionName)).ValidateOnStart();
        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<AdminCorsOptions>>((cors, admin) => cors.AddDefaultPolicy(policy =>
        {
            var origins = admin.Value.AllowedOrigins;
            if (origins.Contains("*"))
            {
                policy.AllowAnyOrigin();
            }
            else
            {
                policy.WithOrigins([.. origins]);
            }

            if (admin.Value.AllowCredentials)
            {
                policy.AllowCredentials();
            }

            policy.WithMethods(HttpMethods.Get, HttpMethods.Put, HttpMethods.Post, HttpMethods.Delete)
                .WithHeaders(RequestHeaders)
                .WithExposedHeaders(ResponseHeaders)
                .SetPreflightMaxAge(TimeSpan.FromMinutes(10));
        }));
        return services;
    }

    /// <summary>Adds the CORS middleware only when origins are configured, so that by default no request ever gets a CORS header.</summary>
    public static IApplicationBuilder UseAdminCors(this IApplicationBuilder app)
    {
        var options = app.ApplicationServices.GetRequiredService<IOptions<AdminCorsOptions>>().Value;
        return options.AllowedOrigins.Count > 0 ? app.UseCors() : app;
    }
}
