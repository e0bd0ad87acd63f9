using System.Globalization;
using System.Text;

namespace Hipache.Aspire.Router.AccessLog;

/// <summary>
/// Hipache's access log line (hipache-compat 5.7), field order and format unchanged, with Q22's
/// fixes: UTC throughout, the resolved client address, bytes of this response, and quotes,
/// backslashes and control characters escaped as nginx does (<c>\x22</c>) so that a client cannot
/// forge lines.
/// <code>ADDR - - [DD/Mon/YYYY:HH:MM:SS +0000] "METHOD TARGET HTTP/VERSION" STATUS BYTES "REFERER" "USER-AGENT" "IDENTIFIER" TOTAL BACKEND</code>
/// </summary>
internal static class AccessLogLine
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    public static string Format(
        string address, DateTimeOffset startedAt, string method, string target, string protocol, int status, long bytes,
        string? referer, string? userAgent, string identifier, TimeSpan total, TimeSpan backend)
    {
        var builder = new StringBuilder(192);
        Append(builder, address, startedAt, method, target, protocol, status, bytes, referer, userAgent, identifier, total, backend);
        return builder.ToString();
    }

    /// <summary>Appends one line (without its line end) to <paramref name="builder"/>, allocating nothing.</summary>
    public static void Append(
        StringBuilder builder, string address, DateTimeOffset startedAt, string method, string target, string protocol, int status, long bytes,
        string? referer, string? userAgent, string identifier, TimeSpan total, TimeSpan backend)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var utc = startedAt.UtcDateTime;
        builder.Append(address).Append(" - - [");
        TwoDigits(builder, utc.Day).Append('/')
            .Append(Months[utc.Month - 1]).Append('/')
            .Append(utc.Year).Append(':');
        TwoDigits(builder, utc.Hour).Append(':');
        TwoDigits(builder, utc.Minute).Append(':');
        TwoDigits(builder, utc.Second).Append(" +0000] \"");
        AppendEscaped(builder, method).Append(' ');
        AppendEscaped(builder, target).Append(' ');
        AppendEscaped(builder, protocol).Append("\" ")
            .Append(status).Append(' ')
            .Append(bytes).Append(" \"");
        AppendEscaped(builder, referer ?? string.Empty).Append("\" \"");
        AppendEscaped(builder, userAgent ?? string.Empty).Append("\" \"");
        AppendEscaped(builder, identifier).Append("\" ");
        AppendSeconds(builder, total).Append(' ');
        AppendSeconds(builder, backend);
    }

    private static StringBuilder TwoDigits(StringBuilder builder, int value) =>
        builder.Append((char)('0' + (value / 10))).Append((char)('0' + (value % 10)));

    /// <summary>
    /// Milliseconds / 1000 in shortest form, as Hipache prints them: <c>0.014</c>, <c>1.5</c>,
    /// <c>0</c> (what <c>ToString("0.###")</c> of the rounded milliseconds / 1000 gives), written
    /// with integer digits: the custom float format was half of the writer's time per line.
    /// </summary>
    public static StringBuilder AppendSeconds(StringBuilder builder, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var milliseconds = Math.Round(elapsed.TotalMilliseconds);
        if (milliseconds < 0)
        {
            return builder.Append(CultureInfo.InvariantCulture, $"{milliseconds / 1000:0.###}");
        }

        var whole = (long)milliseconds;
        builder.Append(whole / 1000);
        var fraction = (int)(whole % 1000);
        if (fraction == 0)
        {
            return builder;
        }

        builder.Append('.').Append((char)('0' + (fraction / 100)));
        fraction %= 100;
        if (fraction != 0)
        {
            builder.Append((char)('0' + (fraction / 10)));
            fraction %= 10;
            if (fraction != 0)
            {
                builder.Append((char)('0' + fraction));
            }
        }

        return builder;
    }

    private static StringBuilder AppendEscaped(StringBuilder builder, string value)
    {
        foreach (var c in value)
        {
            if (c is '"' or '\\' || c < 0x20 || c == 0x7f)
            {
                builder.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder;
    }
}
