namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>How a response body is delimited (RFC 9112 6.3).</summary>
internal enum BodyFraming
{
    /// <summary>HEAD, 1xx, 204, 304, or Content-Length 0.</summary>
    None,

    ContentLength,

    Chunked,

    /// <summary>Neither length nor chunked: the body ends when the backend closes.</summary>
    UntilClose,
}

/// <summary>
/// One parsed response head, as offsets into the connection's receive buffer (valid until the
/// head is consumed), reused by every exchange on its connection.
/// </summary>
internal sealed class ResponseHead
{
    public readonly List<HeaderSlot> Headers = [];

    public int Status { get; set; }

    /// <summary>1 for HTTP/1.1, 0 for HTTP/1.0.</summary>
    public int MinorVersion { get; set; }

    public int ReasonStart { get; set; }

    public int ReasonLength { get; set; }

    /// <summary>-1 when absent.</summary>
    public long ContentLength { get; set; }

    public bool Chunked { get; set; }

    /// <summary>The backend said <c>Connection: close</c>.</summary>
    public bool Close { get; set; }

    /// <summary>The backend said <c>Connection: keep-alive</c> (what keeps an HTTP/1.0 connection open).</summary>
    public bool KeepAlive { get; set; }

    /// <summary>A Connection header names headers beyond close/keep-alive/upgrade (they are dropped too).</summary>
    public bool ConnectionNamesHeaders { get; set; }

    public BodyFraming Framing { get; set; }

    /// <summary>A bodiless status announced a body (a 204 with Content-Length, a chunked 304): relayed without it, the connection dropped.</summary>
    public bool Unreliable { get; set; }

    /// <summary>A 205: whatever body it has is read and dropped, not relayed.</summary>
    public bool DiscardBody { get; set; }

    /// <summary>The connection can serve another request once this body has been read to its end.</summary>
    public bool Reusable => Framing != BodyFraming.UntilClose && !Close && !Unreliable && (MinorVersion == 1 || KeepAlive);

    public void Reset()
    {
        Headers.Clear();
        Status = 0;
        MinorVersion = 1;
        ReasonStart = ReasonLength = 0;
        ContentLength = -1;
        Chunked = Close = KeepAlive = ConnectionNamesHeaders = Unreliable = DiscardBody = false;
        Framing = BodyFraming.None;
    }
}

/// <summary>One header line of a response head: name and trimmed value, as offsets from the head's start.</summary>
internal readonly record struct HeaderSlot(int NameStart, int NameLength, int ValueStart, int ValueLength);
