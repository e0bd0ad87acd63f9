using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>Refused requests: one warning per interval with counts, a metric, and no key in any log line.</summary>
public sealed class FailedAuthLoggingTests
{
    private const int ReportEventId = 11;
    private static readonly string ReportCategory = typeof(Auth.FailedAuthReporter).FullName!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Refused_requests_are_reported_per_interval_with_their_count_and_client_addresses()
    {
        await using var service = LoggedService();
        await service.InitializeAsync();
        // Real Kestrel, so that the client address is a real peer address; 127.0.0.2 is loopback too on Linux.
        var address = service.StartKestrel();
        var collector = service.Services.GetFakeLogCollector();
        using var metric = new MetricCollector<long>(service.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), AdminMetrics.MeterName, "hipache.admin.auth.failures");

        using var first = ClientFrom(IPAddress.Loopback, address);
        using var second = ClientFrom(IPAddress.Parse("127.0.0.2"), address);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await Get(first, $"wrong-key-{i}-0123456789abcdef0123456789")).StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await Get(second, $"other-key-{i}-0123456789abcdef0123456789")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(first, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(second, null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(first, AdminApiFixture.Key)).StatusCode);

        // The ten refusals may straddle two intervals: add the reports up until all are counted.
        var reports = await Poll.UntilAsync(
            () => Task.FromResult(collector.GetSnapshot().Where(IsReport).ToArray()),
            r => r.Sum(x => State<long>(x, "Refused")) >= 10,
            TimeSpan.FromSeconds(15),
            "the failed-authentication warning");
        Assert.All(reports, r => Assert.Equal(LogLevel.Warning, r.Level));
        Assert.Equal(10, reports.Sum(r => State<long>(r, "Refused")));
        Assert.Equal(8, reports.Sum(r => State<long>(r, "WrongKey")));
        if (reports.Length == 1)
        {
            Assert.Equal(2, State<int>(reports[0], "Clients"));
            Assert.Contains("from 2 client address(es)", reports[0].Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.All(reports, r => Assert.InRange(State<int>(r, "Clients"), 1, 2));
        }

        // Per-request lines are debug, not one warning per guess.
        Assert.DoesNotContain(collector.GetSnapshot(), r => r.Level >= LogLevel.Warning && !IsReport(r) && r.Category!.Contains("ApiKey", StringComparison.Ordinal));

        var measurements = metric.GetMeasurementSnapshot();
        Assert.Equal(8, measurements.Where(m => m.Tags["reason"] is "invalid").Sum(m => m.Value));
        Assert.Equal(2, measurements.Where(m => m.Tags["reason"] is "missing").Sum(m => m.Value));
    }

    [Fact]
    public async Task No_log_line_at_any_level_ever_holds_a_key_valid_or_guessed()
    {
        const string guessed = "guessed-key-5f1c9a7e3b2d4c6a8e0f1a2b3c4d5e6f";
        await using var service = LoggedService();
        await service.InitializeAsync();
        var collector = service.Services.GetFakeLogCollector();
        var host = $"h{Guid.NewGuid():N}.keys.test";

        using (var client = service.CreateClient())
        {
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "keys", backends = new[] { "http://10.71.0.1:8080" } }, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/v1/frontends/{host}/backends", new { url = "http://10.71.0.2:8080" }, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/frontends/{host}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}", Ct)).StatusCode);
        }

        using (var client = service.CreateClient(AdminApiFixture.SecondKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/apps", Ct)).StatusCode);
        }

        using (var client = service.CreateClient(guessed))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "keys", backends = Array.Empty<string>() }, Ct)).StatusCode);
        }

        using (var client = service.CreateClient(null))
        {
            foreach (var header in new[] { $"Basic {guessed}", guessed, $"Bearer {guessed}{AdminApiFixture.Key}" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends");
                request.Headers.TryAddWithoutValidation("Authorization", header);
                Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(request, Ct)).StatusCode);
            }

            using var twice = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends");
            twice.Headers.TryAddWithoutValidation("Authorization", [$"Bearer {AdminApiFixture.Key}", $"Bearer {guessed}"]);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(twice, Ct)).StatusCode);
        }

        // Wait for the interval's warning, so that the reporter's line is among those checked.
        await Poll.UntilAsync(() => Task.FromResult(collector.GetSnapshot().Count(IsReport)), n => n > 0, TimeSpan.FromSeconds(15), "the failed-authentication warning");
        var records = collector.GetSnapshot();
        Assert.Contains(records, r => r.Level == LogLevel.Debug);
        foreach (var record in records)
        {
            var text = string.Join('\n', new[] { record.Message, record.Exception?.ToString() }
                .Concat(record.StructuredState?.Select(kv => $"{kv.Key}={kv.Value}") ?? [])
                .Concat(record.Scopes.Select(s => s?.ToString())));
            foreach (var key in new[] { AdminApiFixture.Key, AdminApiFixture.SecondKey, guessed })
            {
                Assert.False(text.Contains(key, StringComparison.Ordinal), $"{record.Category} {record.Level} logged a key: {record.Message}");
            }
        }
    }

    /// <summary>Its own service: every log line of every category at every level, and a one-second report interval.</summary>
    private static AdminApiFixture LoggedService() => new()
    {
        Configure = web =>
        {
            web.UseSetting("Admin:FailedAuthLogInterval", "00:00:01");
            web.ConfigureServices(services => services.AddLogging(logging => logging
                .AddFakeLogging(options => options.CollectRecordsForDisabledLogLevels = false)
                .SetMinimumLevel(LogLevel.Trace)
                .AddFilter<FakeLoggerProvider>(null, LogLevel.Trace)));
        },
    };

    private static Task<HttpResponseMessage> Get(HttpClient client, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client.SendAsync(request, Ct);
    }

    /// <summary>A client whose connections leave from <paramref name="local"/>, so that the service sees that peer address.</summary>
    private static HttpClient ClientFrom(IPAddress local, Uri server) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = server };

    private static bool IsReport(FakeLogRecord record) => record.Id.Id == ReportEventId && record.Category == ReportCategory;

    private static T State<T>(FakeLogRecord record, string name) =>
        (T)Convert.ChangeType(record.StructuredState!.Single(kv => kv.Key == name).Value!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
}
