using System.Text.Json;
using Hipache.Aspire.Admin.Tests;
using StackExchange.Redis;

namespace Hipache.Aspire.Cli.Tests;

/// <summary>
/// Every command of <c>hipache</c> against the real admin API (Kestrel on an ephemeral port, real
/// Redis): tables for people, <c>--json</c> parsed as the API's JSON, and API errors turned into
/// the documented exit codes with the problem's text.
/// </summary>
public sealed class CliTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri Url => fixture.KestrelUrl;

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => await RunWithAsync(new Dictionary<string, string?> { ["HIPACHE_ADMIN_URL"] = Url.ToString(), ["HIPACHE_ADMIN_KEY"] = AdminApiFixture.Key }, args);

    private static async Task<(int Code, string Out, string Err)> RunWithAsync(Dictionary<string, string?> environment, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error, name => environment.TryGetValue(name, out var value) ? value : null, httpHandler: null, Ct);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Frontends_put_get_ls_and_rm_round_trip_with_tables_and_json()
    {
        var host = $"cli-{Guid.NewGuid():N}.test";
        var put = await RunAsync("frontends", "put", host, "--app", "shop", "--backend", "http://10.0.0.1:8080", "--backend", "http://10.0.0.2:8080");
        Assert.True(put.Code == ExitCodes.Ok, put.Err);
        Assert.Contains("written", put.Out, StringComparison.Ordinal);
        Assert.Contains("etag: ", put.Out, StringComparison.Ordinal);

        var table = await RunAsync("frontends", "get", host);
        Assert.Equal(ExitCodes.Ok, table.Code);
        Assert.Contains($"host: {host}", table.Out, StringComparison.Ordinal);
        Assert.Contains("app: shop", table.Out, StringComparison.Ordinal);
        Assert.Matches(@"http://10\.0\.0\.2:8080\s+no", table.Out);

        var json = await RunAsync("frontends", "get", host, "--json");
        using (var document = JsonDocument.Parse(json.Out))
        {
            Assert.Equal(["http://10.0.0.1:8080", "http://10.0.0.2:8080"], document.RootElement.GetProperty("backends").EnumerateArray().Select(b => b.GetProperty("url").GetString()));
        }

        var listed = await RunAsync("frontends", "ls", "--match", host, "--json");
        using (var document = JsonDocument.Parse(listed.Out))
        {
            Assert.Equal([host], document.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("host").GetString()));
        }

        var lsTable = await RunAsync("frontends", "ls", "--match", host);
        Assert.Matches($@"(?m)^HOST\s+APP\s+BACKENDS\s*$", lsTable.Out);
        Assert.Contains($"{host}  shop  http://10.0.0.1:8080, http://10.0.0.2:8080", lsTable.Out, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Ok, (await RunAsync("frontends", "rm", host)).Code);
        var gone = await RunAsync("frontends", "get", host);
        Assert.Equal(ExitCodes.NotFound, gone.Code);
        Assert.Contains("404 Not found", gone.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Frontends_ls_all_follows_every_page()
    {
        var suffix = Guid.NewGuid().ToString("N");
        for (var i = 0; i < 7; i++)
        {
            Assert.Equal(ExitCodes.Ok, (await RunAsync("frontends", "put", $"p{i}.{suffix}.test", "--app", "paged")).Code);
        }

        var page = await RunAsync("frontends", "ls", "--match", $"*.{suffix}.test", "--limit", "3", "--json");
        using (var first = JsonDocument.Parse(page.Out))
        {
            Assert.True(first.RootElement.GetProperty("items").GetArrayLength() <= 3);
        }

        var all = await RunAsync("frontends", "ls", "--match", $"*.{suffix}.test", "--limit", "3", "--all", "--json");
        using var everything = JsonDocument.Parse(all.Out);
        Assert.Equal(7, everything.RootElement.GetProperty("items").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, everything.RootElement.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task Backends_add_and_rm_and_a_stale_if_match_is_a_conflict()
    {
        var host = $"be-{Guid.NewGuid():N}.test";
        var put = await RunAsync("frontends", "put", host, "--app", "be", "--backend", "http://10.0.0.1:8081");
        var etag = put.Out.Split('\n').Single(l => l.StartsWith("etag: ", StringComparison.Ordinal))["etag: ".Length..].Trim();

        Assert.Equal(ExitCodes.Ok, (await RunAsync("backends", "add", host, "http://10.0.0.2:8081")).Code);
        var stale = await RunAsync("backends", "rm", host, "http://10.0.0.1:8081", "--if-match", etag);
        Assert.Equal(ExitCodes.Conflict, stale.Code);
        Assert.Contains("412 Precondition failed", stale.Err, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Ok, (await RunAsync("backends", "rm", host, "http://10.0.0.1:8081")).Code);
        var missing = await RunAsync("backends", "rm", host, "http://10.0.0.1:8081");
        Assert.Equal(ExitCodes.NotFound, missing.Code);
        var json = await RunAsync("frontends", "get", host, "--json");
        using var document = JsonDocument.Parse(json.Out);
        Assert.Equal(["http://10.0.0.2:8081"], document.RootElement.GetProperty("backends").EnumerateArray().Select(b => b.GetProperty("url").GetString()));
    }

    [Fact]
    public async Task Apps_put_get_ls_and_rm_and_an_owned_host_is_a_conflict()
    {
        var app = $"app{Guid.NewGuid():N}"[..20];
        var hostA = $"a.{app}.test";
        var hostB = $"b.{app}.test";
        Assert.Equal(ExitCodes.Ok, (await RunAsync("apps", "put", app, "--host", hostA, "--host", hostB, "--backend", "http://10.0.0.3:8081")).Code);
        var get = await RunAsync("apps", "get", app);
        Assert.Contains($"{hostA}, {hostB}", get.Out, StringComparison.Ordinal);
        var json = await RunAsync("apps", "get", app, "--json");
        using (var document = JsonDocument.Parse(json.Out))
        {
            Assert.Equal(app, document.RootElement.GetProperty("app").GetString());
        }

        var all = await RunAsync("apps", "ls", "--all", "--json");
        using (var document = JsonDocument.Parse(all.Out))
        {
            Assert.Contains(app, document.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("app").GetString()));
        }

        var other = $"oth{Guid.NewGuid():N}"[..20];
        var taken = await RunAsync("apps", "put", other, "--host", hostA);
        Assert.Equal(ExitCodes.Conflict, taken.Code);
        Assert.Equal(ExitCodes.Ok, (await RunAsync("apps", "put", other, "--host", hostA, "--takeover")).Code);

        Assert.Equal(ExitCodes.Ok, (await RunAsync("apps", "rm", app)).Code);
        Assert.Equal(ExitCodes.NotFound, (await RunAsync("frontends", "get", hostB)).Code);
    }

    [Fact]
    public async Task Dead_ls_shows_the_marks_and_dead_clear_removes_them()
    {
        var host = $"dead-{Guid.NewGuid():N}.test";
        await RunAsync("frontends", "put", host, "--app", "d", "--backend", "http://10.0.0.1:8081", "--backend", "http://10.0.0.2:8081");
        await using (var redis = await fixture.Redis.ConnectAsync())
        {
            await redis.GetDatabase().SetAddAsync(fixture.Prefix + "dead:" + host, 1);
            await redis.GetDatabase().KeyExpireAsync(fixture.Prefix + "dead:" + host, TimeSpan.FromMinutes(1));
        }

        var listed = await RunAsync("dead", "ls", host, "--json");
        using (var document = JsonDocument.Parse(listed.Out))
        {
            Assert.Equal(["http://10.0.0.2:8081"], document.RootElement.GetProperty("dead").EnumerateArray().Select(b => b.GetProperty("url").GetString()));
        }

        Assert.Contains("http://10.0.0.2:8081", (await RunAsync("dead", "ls", host)).Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, (await RunAsync("dead", "clear", host)).Code);
        var after = await RunAsync("dead", "ls", host, "--json");
        using var cleared = JsonDocument.Parse(after.Out);
        Assert.Empty(cleared.RootElement.GetProperty("dead").EnumerateArray());
    }

    [Fact]
    public async Task Routers_lists_the_registry()
    {
        // No router runs on this test's Redis prefix: an empty table, and empty JSON.
        var table = await RunAsync("routers");
        Assert.Equal(ExitCodes.Ok, table.Code);
        Assert.StartsWith("ID", table.Out, StringComparison.Ordinal);
        var json = await RunAsync("routers", "--json");
        using var document = JsonDocument.Parse(json.Out);
        Assert.Empty(document.RootElement.GetProperty("routers").EnumerateArray());
    }

    [Fact]
    public async Task Errors_map_to_exit_codes_with_the_problem_text()
    {
        var invalid = await RunAsync("frontends", "put", "bad_host!", "--app", "x");
        Assert.Equal(ExitCodes.Invalid, invalid.Code);
        Assert.Contains("host:", invalid.Err, StringComparison.Ordinal);

        var badWait = await RunAsync("frontends", "put", $"w-{Guid.NewGuid():N}.test", "--app", "x", "--wait", "forever", "--json");
        Assert.Equal(ExitCodes.Invalid, badWait.Code);
        using (var problem = JsonDocument.Parse(badWait.Out))
        {
            Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("wait", out _));
        }

        var wrongKey = await RunWithAsync(new Dictionary<string, string?> { ["HIPACHE_ADMIN_URL"] = Url.ToString(), ["HIPACHE_ADMIN_KEY"] = "wrong-key-0123456789abcdef0123456789" }, "routers");
        Assert.Equal(ExitCodes.Unauthorized, wrongKey.Code);

        var noKey = await RunWithAsync(new Dictionary<string, string?> { ["HIPACHE_ADMIN_URL"] = Url.ToString() }, "routers");
        Assert.Equal(ExitCodes.Invalid, noKey.Code);
        Assert.Contains("no admin API key", noKey.Err, StringComparison.Ordinal);

        var usage = await RunAsync("frontends", "put", "x.test");
        Assert.Equal(ExitCodes.Invalid, usage.Code);
        Assert.Contains("--app", usage.Err, StringComparison.Ordinal);

        // Nothing listens on port 9 of loopback.
        var unreachable = await RunWithAsync(new Dictionary<string, string?> { ["HIPACHE_ADMIN_URL"] = "http://127.0.0.1:9", ["HIPACHE_ADMIN_KEY"] = AdminApiFixture.Key }, "routers");
        Assert.Equal(ExitCodes.Unreachable, unreachable.Code);
        Assert.Contains("cannot reach the admin API", unreachable.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_come_from_a_config_file_when_no_flag_or_variable_names_them()
    {
        var file = Path.Combine(Path.GetTempPath(), $"hipache-cli-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(new { url = Url.ToString(), key = AdminApiFixture.Key }), Ct);
        try
        {
            var fromFile = await RunWithAsync(new Dictionary<string, string?>(), "routers", "--config", file);
            Assert.True(fromFile.Code == ExitCodes.Ok, fromFile.Err);
            var flagWins = await RunWithAsync(new Dictionary<string, string?>(), "routers", "--config", file, "--key", "wrong-key-0123456789abcdef0123456789");
            Assert.Equal(ExitCodes.Unauthorized, flagWins.Code);
            var missing = await RunWithAsync(new Dictionary<string, string?>(), "routers", "--config", file + ".absent");
            Assert.Equal(ExitCodes.Invalid, missing.Code);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
