using System.Text;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// The response header values a backend connection saw last, as strings: a backend repeats most of
/// them on every response (Server, Content-Type, the Date of this second...), so a relayed response
/// allocates no string for those. A few short values per connection, replaced in turn.
/// </summary>
internal sealed class HeaderValueCache
{
    private const int Slots = 8;
    private const int MaxValueLength = 96;

    private readonly byte[][] _bytes = new byte[Slots][];
    private readonly string[] _values = new string[Slots];
    private int _next;

    public string Get(ReadOnlySpan<byte> value)
    {
        if (value.Length > MaxValueLength)
        {
            return Encoding.ASCII.GetString(value);
        }

        for (var i = 0; i < Slots; i++)
        {
            if (_bytes[i] is { } known && value.SequenceEqual(known))
            {
                return _values[i];
            }
        }

        var text = Encoding.ASCII.GetString(value);
        var slot = _next;
        _next = (slot + 1) % Slots;
        _bytes[slot] = value.ToArray();
        _values[slot] = text;
        return text;
    }
}
