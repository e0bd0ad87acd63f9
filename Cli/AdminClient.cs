using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Cli;

/// <summary>An answer of the admin API: its status, JSON body (if any) and the headers the CLI shows.</summary>
internal sealed record ApiResponse(int Status, JsonElement? Body, string? ETag, string? RoutersConfirmed, string? RoutersPending)
{
    public bool IsSuccess => Status is >= 200 and < 300;
}

/// <summary>The admin API over HTTP with the bearer key; every call answers an <see cref="ApiResponse"/>.</summary>
internal sealed class AdminClient(HttpClient http, CliSettings settings)
{
    public async Task<ApiResponse> SendAsync(HttpMethod method, string pathAndQuery, object? body, string? ifMatch, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(settings.Url, pathAndQuery));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.Key);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json.Web);
        }

        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        JsonElement? json = null;
        if (!string.IsNullOrWhiteSpace(text))
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                json = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Not JSON (a proxy's error page): reported by status alone.
            }
        }

        return new ApiResponse(
            (int)response.StatusCode,
            json,
            response.Headers.ETag?.ToString(),
            response.Headers.TryGetValues("Hipache-Routers-Confirmed", out var confirmed) ? string.Join(", ", confirmed) : null,
            response.Headers.TryGetValues("Hipache-Routers-Pending", out var pending) ? string.Join(", ", pending) : null);
    }
}

internal static class Json
{
    public static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
