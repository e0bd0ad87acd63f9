using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Hipache.Aspire.BenchTools;

internal sealed record AdminChurnOptions(
    Uri Admin, string Key, IReadOnlyList<Uri> Routers, string Backend, int Clients, TimeSpan Duration, bool Check, TimeSpan CheckTimeout, double Rate, bool KeepGoing = false)
{
    public static AdminChurnOptions From(CommandLine args)
    {
        var check = args.Bool("check", true);
        var router = args.Text("router");
        if (check && router is null)
        {
            throw new ArgumentException("--router is required unless --check false.");
        }

        return new AdminChurnOptions(
            new Uri(args.Required("admin")),
            args.Text("key") ?? Environment.GetEnvironmentVariable("ADMIN_KEY") ?? throw new ArgumentException("--key (or ADMIN_KEY) is required."),
            router is null ? [] : [.. router.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r => new Uri(r))],
            args.Text("backend") ?? "http://127.0.0.1:21201",
            args.Int("clients", 16),
            TimeSpan.FromSeconds(args.Int("duration", 20)),
            check,
            TimeSpan.FromMilliseconds(args.Int("check-timeout-ms", 10_000)),
            args.Int("rate", 0),
            args.Bool("keep-going", false));
    }
}

/// <summary>
/// The admin API's write throughput and its propagation to the router. Each client owns one
/// frontend that starts with no backend (the router answers 502) and alternates POST of one
/// backend (the router must turn to 200) and DELETE of it (back to 502). With checking on, after
/// each call the client polls the router, on its own keep-alive connection, until the answer
/// changes: the time from the admin API's response to that first changed answer is the
/// propagation delay, so its resolution is one router round trip. With several routers
/// (<c>--router a,b,c</c>) each is polled until it reflects the call, and the delay is that of the
/// last one: the time until every router serves the change. <c>--rate</c> paces all clients
/// together to that many calls a second (0: as fast as they go).
/// </summary>
internal static class AdminChurn
{
    public static async Task<int> RunAsync(AdminChurnOptions options, CancellationToken cancellationToken)
    {
        var clients = Enumerable.Range(0, options.Clients).Select(i => new ChurnClient(options, i)).ToArray();
        try
        {
            foreach (var client in clients)
            {
                await client.PrepareAsync(cancellationToken).ConfigureAwait(false);
            }

            var clock = Stopwatch.StartNew();
            var deadline = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
            await Task.WhenAll(clients.Select(c => Task.Run(() => c.RunAsync(deadline, cancellationToken), cancellationToken))).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;

            var calls = clients.Sum(c => c.Calls);
            var errors = clients.Sum(c => c.Errors);
            var timeouts = clients.Sum(c => c.Timeouts);
            var admin = new Percentiles(clients.SelectMany(c => c.AdminMs));
            var add = new Percentiles(clients.SelectMany(c => c.AddPropagationMs));
            var remove = new Percentiles(clients.SelectMany(c => c.RemovePropagationMs));
            var both = new Percentiles(clients.SelectMany(c => c.AddPropagationMs.Concat(c.RemovePropagationMs)));
            var firstPoll = clients.Sum(c => c.SeenOnFirstPoll);
            var line = new StringBuilder().Append(CultureInfo.InvariantCulture, $"RESULT clients={options.Clients} routers={options.Routers.Count} rate={options.Rate} check={options.Check} seconds={seconds:F1} calls={calls} calls_per_s={calls / seconds:F0} errors={errors} ")
                .Append(admin.Summary("admin"));
            if (options.Check)
            {
                line.Append(' ').Append(both.Summary("prop"))
                    .Append(' ').Append(add.Summary("prop_add"))
                    .Append(' ').Append(remove.Summary("prop_remove"))
                    .Append(CultureInfo.InvariantCulture, $" prop_timeouts={timeouts} prop_within_5ms_pct={100.0 * both.CountAtMost(5) / Math.Max(1, both.Count):F2} prop_over_100ms={both.Count - both.CountAtMost(100)} prop_over_1s={both.Count - both.CountAtMost(1000)} seen_on_first_poll={firstPoll}");
            }

            Console.Out.WriteLine(line.ToString());
            return errors == 0 ? 0 : 1;
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class ChurnClient : IAsyncDisposable
    {
        private readonly AdminChurnOptions _options;
        private bool _retrying;
        private readonly string _host;
        private readonly HttpClient _admin;
        private readonly HttpClient[] _routers;
        private readonly Uri _frontendUri;
        private readonly Uri _backendsUri;
        private readonly Uri _removeUri;
        private readonly byte[] _addBody;
        private bool _reportedLate;

        // Past this a propagation is reported on stderr (with the time, to match the router's log).
        private static readonly TimeSpan LatePropagation = TimeSpan.FromMilliseconds(100);

        public ChurnClient(AdminChurnOptions options, int index)
        {
            _options = options;
            _host = string.Create(CultureInfo.InvariantCulture, $"c{index:D2}.churn.local");
            _admin = NewClient(options.Admin);
            _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Key);
            _routers = options.Check ? [.. options.Routers.Select(NewClient)] : [];
            _frontendUri = new Uri(options.Admin, $"/v1/frontends/{_host}");
            _backendsUri = new Uri(options.Admin, $"/v1/frontends/{_host}/backends");
            _removeUri = new Uri(options.Admin, $"/v1/frontends/{_host}/backends?url={Uri.EscapeDataString(options.Backend)}");
            _addBody = Encoding.UTF8.GetBytes($$"""{"url":"{{options.Backend}}"}""");
        }

        public long Calls { get; private set; }

        public long Errors { get; private set; }

        public long Timeouts { get; private set; }

        public long SeenOnFirstPoll { get; private set; }

        public List<double> AdminMs { get; } = new(1 << 16);

        public List<double> AddPropagationMs { get; } = new(1 << 15);

        public List<double> RemovePropagationMs { get; } = new(1 << 15);

        /// <summary>Creates the frontend with no backend and, when checking, has the router cache that state.</summary>
        public async Task PrepareAsync(CancellationToken cancellationToken)
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, _frontendUri)
            {
                Content = new StringContent($$"""{"app":"churn","backends":[]}""", Encoding.UTF8, "application/json"),
            };
            using var response = await _admin.SendAsync(put, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
            {
                throw new InvalidOperationException($"PUT {_frontendUri} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
            }

            foreach (var router in _routers)
            {
                // Served once so that the first add is measured against a cached "no backend", as every
                // later one is. A previous run may have left a backend the router still serves: wait it out.
                var giveUp = Stopwatch.GetTimestamp() + (long)(_options.CheckTimeout.TotalSeconds * Stopwatch.Frequency);
                while (await RouterStatusAsync(router, cancellationToken).ConfigureAwait(false) == HttpStatusCode.OK)
                {
                    if (Stopwatch.GetTimestamp() > giveUp)
                    {
                        throw new InvalidOperationException($"The router still answers 200 for {_host}, which has no backend, after {_options.CheckTimeout.TotalMilliseconds} ms.");
                    }

                    await Task.Delay(10, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        public async Task RunAsync(long deadline, CancellationToken cancellationToken)
        {
            // Paced: this client's share of --rate, as a schedule (a late call does not shift the next).
            var interval = _options.Rate > 0 ? (long)(Stopwatch.Frequency * _options.Clients / _options.Rate) : 0;
            var next = Stopwatch.GetTimestamp();
            var add = true;
            while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
            {
                if (interval > 0)
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                    }

                    next += interval;
                }

                if (!await CallAsync(add, cancellationToken).ConfigureAwait(false))
                {
                    if (!_options.KeepGoing)
                    {
                        return;
                    }

                    // A failover, say: the same call again until it goes through (a 503 may or
                    // may not have applied it; both calls are safe to repeat).
                    _retrying = true;
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                _retrying = false;
                add = !add;
            }
        }

        /// <summary>One admin call and, when checking, its propagation. False stops this client (the state is no longer known).</summary>
        private async Task<bool> CallAsync(bool add, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            HttpStatusCode status;
            if (add)
            {
                using var content = new ByteArrayContent(_addBody);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await _admin.PostAsync(_backendsUri, content, cancellationToken).ConfigureAwait(false);
                await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
                status = response.StatusCode;
            }
            else
            {
                using var response = await _admin.DeleteAsync(_removeUri, cancellationToken).ConfigureAwait(false);
                await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
                status = response.StatusCode;
            }

            var answered = Stopwatch.GetTimestamp();
            // Repeating a DELETE whose first try was applied before its answer was lost finds nothing: done.
            if (status != (add ? HttpStatusCode.OK : HttpStatusCode.NoContent) && !(_retrying && !add && status == HttpStatusCode.NotFound))
            {
                Errors++;
                await Console.Error.WriteLineAsync($"{_host}: {(add ? "POST" : "DELETE")} answered {(int)status}").ConfigureAwait(false);
                return false;
            }

            Calls++;
            AdminMs.Add(Stopwatch.GetElapsedTime(start, answered).TotalMilliseconds);

            if (_routers.Length == 0)
            {
                return true;
            }

            var giveUp = answered + (long)(_options.CheckTimeout.TotalSeconds * Stopwatch.Frequency);
            var pending = new List<HttpClient>(_routers);
            for (var polls = 1; ; polls++)
            {
                // Every router not yet reflecting the call, once per round; done when none is left.
                for (var r = pending.Count - 1; r >= 0; r--)
                {
                    if (await RouterStatusAsync(pending[r], cancellationToken).ConfigureAwait(false) == HttpStatusCode.OK == add)
                    {
                        pending.RemoveAt(r);
                    }
                }

                var served = pending.Count == 0;
                var now = Stopwatch.GetTimestamp();
                if (served)
                {
                    (add ? AddPropagationMs : RemovePropagationMs).Add(Stopwatch.GetElapsedTime(answered, now).TotalMilliseconds);
                    SeenOnFirstPoll += polls == 1 ? 1 : 0;
                    if (_reportedLate)
                    {
                        _reportedLate = false;
                        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {_host}: served after {Stopwatch.GetElapsedTime(answered, now).TotalMilliseconds:F0} ms ({polls} polls)")).ConfigureAwait(false);
                    }

                    return true;
                }

                if (now > giveUp)
                {
                    Timeouts++;
                    await Console.Error.WriteLineAsync($"{_host}: the router did not reflect the {(add ? "add" : "remove")} within {_options.CheckTimeout.TotalMilliseconds} ms").ConfigureAwait(false);
                    return false;
                }

                if (polls == 1 || Stopwatch.GetElapsedTime(answered, now) < LatePropagation)
                {
                    continue;
                }

                // Late: say when, so that a slow one can be matched with the router's log and metrics.
                if (!_reportedLate)
                {
                    _reportedLate = true;
                    await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss.fff} {_host}: the {(add ? "add" : "remove")} is not served after {LatePropagation.TotalMilliseconds} ms; still polling")).ConfigureAwait(false);
                }
            }
        }

        private async Task<HttpStatusCode> RouterStatusAsync(HttpClient router, CancellationToken cancellationToken)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, router.BaseAddress);
            request.Headers.Host = _host;
            using var response = await router.SendAsync(request, cancellationToken).ConfigureAwait(false);
            await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
            return response.StatusCode;
        }

        public ValueTask DisposeAsync()
        {
            _admin.Dispose();
            foreach (var router in _routers)
            {
                router.Dispose();
            }

            return ValueTask.CompletedTask;
        }

        // One keep-alive connection per client and target: each client is sequential, and a
        // pool per client keeps one client's connection setup out of another's timings.
        private static HttpClient NewClient(Uri baseAddress) => new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AllowAutoRedirect = false,
        })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(10),
        };
    }
}
