using System.Text;
using Hipache.Aspire.Router.Routing;

namespace Hipache.Aspire.Router.Tests;

/// <summary>The replies of a subscription connection, whole or cut anywhere, and what is not RESP.</summary>
public sealed class RespReplyReaderTests
{
    private const string Notification = "*4\r\n$8\r\npmessage\r\n$25\r\n__keyspace@0__:frontend:*\r\n$30\r\n__keyspace@0__:frontend:a.test\r\n$5\r\nrpush\r\n";

    [Fact]
    public void A_notification_is_read_whole_and_not_before_its_last_byte()
    {
        var bytes = Encoding.ASCII.GetBytes(Notification);
        var parts = new Range[RespReplyReader.MaxParts];
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Equal(0, RespReplyReader.TryRead(bytes.AsSpan(0, cut), parts, out _, out _));
        }

        Assert.Equal(bytes.Length, RespReplyReader.TryRead(bytes, parts, out var kind, out var count));
        Assert.Equal(RespReplyKind.Array, kind);
        Assert.Equal(4, count);
        Assert.Equal(["pmessage", "__keyspace@0__:frontend:*", "__keyspace@0__:frontend:a.test", "rpush"], parts[..4].Select(p => Encoding.ASCII.GetString(bytes[p])));
    }

    [Theory]
    [InlineData("+OK\r\n", nameof(RespReplyKind.Simple), "OK")]
    [InlineData("-NOAUTH Authentication required.\r\n", nameof(RespReplyKind.Error), "NOAUTH Authentication required.")]
    [InlineData(":3\r\n", nameof(RespReplyKind.Integer), "3")]
    public void Status_error_and_integer_replies_are_one_part(string reply, string expectedKind, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(reply + Notification);
        var parts = new Range[RespReplyReader.MaxParts];
        Assert.Equal(reply.Length, RespReplyReader.TryRead(bytes, parts, out var kind, out var count));
        Assert.Equal((Enum.Parse<RespReplyKind>(expectedKind), 1, text), (kind, count, Encoding.ASCII.GetString(bytes[parts[0]])));
    }

    [Fact]
    public void A_confirmation_with_a_count_and_a_null_bulk_string_are_read()
    {
        var bytes = Encoding.ASCII.GetBytes("*3\r\n$10\r\npsubscribe\r\n$-1\r\n:2\r\n");
        var parts = new Range[RespReplyReader.MaxParts];
        Assert.Equal(bytes.Length, RespReplyReader.TryRead(bytes, parts, out var kind, out var count));
        Assert.Equal((RespReplyKind.Array, 3), (kind, count));
        Assert.Equal(["psubscribe", string.Empty, "2"], parts[..3].Select(p => Encoding.ASCII.GetString(bytes[p])));
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n")]
    [InlineData("*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n")]
    [InlineData("*1\r\n$3\r\nabcd\r\n")]
    [InlineData("*1\r\n*1\r\n:1\r\n")]
    [InlineData("*x\r\n")]
    [InlineData("*1\r\n$-5\r\n")]
    public void What_is_not_a_subscription_reply_is_a_protocol_error(string reply)
    {
        var bytes = Encoding.ASCII.GetBytes(reply);
        Assert.Throws<RespProtocolException>(() => RespReplyReader.TryRead(bytes, new Range[RespReplyReader.MaxParts], out _, out _));
    }

    [Fact]
    public void A_line_that_never_ends_is_a_protocol_error_past_4_KB()
    {
        var bytes = Encoding.ASCII.GetBytes("+" + new string('a', 5000));
        Assert.Throws<RespProtocolException>(() => RespReplyReader.TryRead(bytes, new Range[RespReplyReader.MaxParts], out _, out _));
        Assert.Equal(0, RespReplyReader.TryRead(bytes.AsSpan(0, 4000), new Range[RespReplyReader.MaxParts], out _, out _));
    }
}
