using System.Globalization;

namespace Hipache.Aspire.BenchTools;

/// <summary><c>--name value</c> pairs; every option has a value, so the parser needs no schema.</summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string> _values;

    private CommandLine(Dictionary<string, string> values) => _values = values;

    public static CommandLine Parse(ReadOnlySpan<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Expected '--name value' at '{args[i]}'.");
            }

            values[args[i][2..]] = args[i + 1];
        }

        return new CommandLine(values);
    }

    public string? Text(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) =>
        Text(name) ?? throw new ArgumentException($"--{name} is required.");

    public int Int(string name, int fallback, int min = 1) =>
        Text(name) is not { } s ? fallback
        : int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min ? v
        : throw new ArgumentException($"--{name} must be an integer >= {min}.");

    public bool Bool(string name, bool fallback) =>
        Text(name) is not { } s ? fallback
        : bool.TryParse(s, out var v) ? v
        : throw new ArgumentException($"--{name} must be true or false.");
}
