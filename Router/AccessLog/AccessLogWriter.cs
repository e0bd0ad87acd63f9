using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.AccessLog;

/// <summary>
/// Appends access log lines off the request path: a request enqueues its <see cref="AccessLogEntry"/>
/// by value (no allocation, no formatting), and one background loop, woken at most every
/// <see cref="FlushInterval"/> while lines come, formats the batch and writes and flushes it, as
/// nginx's <c>access_log ... buffer= flush=</c> does. Waking the writer per line cost a thread
/// hop per request (with the line formatted on the request thread, the router spent about twice
/// its CPU per request with the log on: bench/RESULTS.md). Target: a file (reopened on SIGUSR1
/// and SIGHUP, for rotation), <c>stdout</c> (issue #226), or nothing. An unwritable file fails the
/// start with a clear message instead of killing the process later (Q27). A full queue drops
/// lines (and counts them) rather than slowing requests down.
/// </summary>
internal sealed partial class AccessLogWriter : BackgroundService
{
    private const int QueueCapacity = 65_536;
    private const int SigUsr1 = 10;

    /// <summary>How long lines may wait before they are written: the bound on the log's lag.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(100);

    private readonly StringBuilder _line = new(256);
    private readonly bool _hipacheMode;

    // The client address as the last line wrote it: a connection's requests share one
    // IPAddress, and formatting it (Hipache's "::ffff:" prefix) allocated per line.
    private System.Net.IPAddress? _lastAddress;
    private string _lastAddressText = "-";

    private readonly Channel<AccessLogEntry> _queue = Channel.CreateBounded<AccessLogEntry>(new BoundedChannelOptions(QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly string? _path;
    private readonly ILogger<AccessLogWriter> _logger;
    private readonly List<PosixSignalRegistration> _signals = [];
    private TextWriter? _writer;
    private volatile bool _reopen;
    private long _dropped;

    public AccessLogWriter(IOptions<RouterOptions> options, ILogger<AccessLogWriter> logger)
    {
        _logger = logger;
        var target = options.Value.AccessLog;
        IsEnabled = !string.IsNullOrWhiteSpace(target);
        _path = IsEnabled && !IsStandardOutput(target!) ? Path.GetFullPath(target!) : null;
        _hipacheMode = options.Value.Compatibility == CompatibilityMode.Hipache;
        if (_path is not null)
        {
            // Fail at start, with the path in the message, rather than at the first request.
            _writer = Open(_path);
        }
        else if (IsEnabled)
        {
            _writer = Console.Out;
        }
    }

    public bool IsEnabled { get; }

    /// <summary>Safe mode logs every request (Q22); Hipache mode only those that reached a backend.</summary>
    public bool LogAllRequests => !_hipacheMode;

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Write(in AccessLogEntry entry)
    {
        if (!_queue.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!IsEnabled)
        {
            return;
        }

        if (_path is not null)
        {
            foreach (var signal in new[] { PosixSignal.SIGHUP, (PosixSignal)SigUsr1 })
            {
                _signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    _reopen = true;
                }));
            }
        }

        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                // Let lines gather: one wake-up and one write per interval, not per request.
                await Task.Delay(FlushInterval, stoppingToken).ConfigureAwait(false);
                WriteAvailable(reader);
            }
        }
        catch (OperationCanceledException)
        {
        }

        // Whatever was accepted before the stop is written.
        WriteAvailable(reader);
    }

    private void WriteAvailable(ChannelReader<AccessLogEntry> reader)
    {
        if (_reopen && _path is not null)
        {
            _reopen = false;
            _writer?.Dispose();
            _writer = Open(_path);
            LogReopened(_logger, _path);
        }

        var writer = _writer!;
        while (reader.TryRead(out var entry))
        {
            _line.Clear();
            if (!ReferenceEquals(entry.Address, _lastAddress))
            {
                _lastAddress = entry.Address;
                _lastAddressText = Forwarding.ClientAddress.Format(entry.Address, _hipacheMode) ?? "-";
            }

            AccessLogLine.Append(
                _line,
                _lastAddressText,
                entry.StartedAt,
                entry.Method,
                entry.Target,
                entry.Protocol,
                entry.Status,
                entry.Bytes,
                entry.Referer,
                entry.UserAgent,
                entry.Identifier,
                entry.Total,
                entry.Backend);
            writer.WriteLine(_line);
        }

        writer.Flush();
    }

    public override void Dispose()
    {
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }

        if (_path is not null)
        {
            _writer?.Dispose();
        }

        base.Dispose();
    }

    private static bool IsStandardOutput(string target) => target is "stdout" or "-" or "/dev/stdout";

    private static StreamWriter Open(string path)
    {
        try
        {
            var directory = Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            return new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = false };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"The access log '{path}' cannot be opened for writing: {ex.Message}. Set Router:AccessLog to a writable path or to 'stdout'.", ex);
        }
    }

    [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "Access log {Path} reopened")]
    private static partial void LogReopened(ILogger logger, string path);
}
