using System.Globalization;

namespace Hipache.Aspire.Admin.Routers;

/// <summary>The <c>wait</c> query parameter of a write: <c>500ms</c>, <c>2s</c>, <c>1.5s</c>.</summary>
internal static class WaitDuration
{
    public static bool TryParse(string? text, TimeSpan max, out TimeSpan wait, out string? error)
    {
        wait = TimeSpan.Zero;
        error = null;
        var (number, scale) = text switch
        {
            not null when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 1.0),
            not null when text.EndsWith('s') => (text[..^1], 1000.0),
            _ => (null, 0.0),
        };
        if (number is null || number.Length == 0 || !number.All(c => char.IsAsciiDigit(c) || c == '.')
            || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            error = "Not a duration: use milliseconds or seconds, as in 500ms, 2s or 1.5s.";
            return false;
        }

        var milliseconds = value * scale;
        if (milliseconds < 1)
        {
            error = "Must be 1ms or more; leave wait out to be answered without waiting for the routers.";
            return false;
        }

        if (milliseconds > max.TotalMilliseconds)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"At most {max.TotalSeconds}s (Admin:MaxWriteWait).");
            return false;
        }

        wait = TimeSpan.FromMilliseconds(milliseconds);
        return true;
    }
}
