using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 5.7 / Q22 on whichever forwarding path the run uses: BYTES is this response's body, as relayed.</summary>
public sealed class AccessLogTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    [Fact]
    public async Task The_access_log_line_counts_the_relayed_body_bytes_of_each_response()
    {
        var path = Path.Combine(Path.GetTempPath(), $"hipache-access-{Guid.NewGuid():N}.log");
        try
        {
            var router = await StartRouterAsync(new Dictionary<string, string?> { ["Router:AccessLog"] = path }, []);
            var payload = new string('z', 200_000);
            var backend = await StartBackendAsync("logged", context => context.Response.WriteAsync(context.Request.Path == "/big" ? payload : "small"));
            await router.RpushAsync(Db, "logged.test", "logged-app", backend.Url);
            Assert.Equal((200, "small"), await router.GetTextAsync("logged.test", "/small"));
            Assert.Equal((200, payload), await router.GetTextAsync("logged.test", "/big"));

            var lines = await Poll.UntilAsync(
                async () => File.Exists(path) ? await ReadSharedAsync(path) : [],
                l => l.Length >= 2,
                what: "two access log lines");
            Assert.Contains(lines, l => l.Contains("\"GET /small HTTP/1.1\" 200 5 ", StringComparison.Ordinal) && l.Contains("\"logged-app\"", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.Contains("\"GET /big HTTP/1.1\" 200 200000 ", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<string[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return (await reader.ReadToEndAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
