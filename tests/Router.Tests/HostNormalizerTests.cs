using Hipache.Aspire.Router.Routing;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 3.1 with Q7's fixes.</summary>
public sealed class HostNormalizerTests
{
    [Theory]
    [InlineData("www.example.com", "www.example.com")]
    [InlineData("WWW.Example.COM", "www.example.com")]
    [InlineData("www.example.com:8080", "www.example.com")]
    [InlineData("Shop.Example.org.", "shop.example.org")]
    [InlineData("[::1]:8080", "[::1]")]
    [InlineData("[2001:DB8::5]", "[2001:db8::5]")]
    [InlineData("10.0.0.7:80", "10.0.0.7")]
    [InlineData("localhost", "localhost")]
    public void Q7_normalizes_case_port_brackets_and_trailing_dot(string header, string expected)
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        Assert.Equal(HostKind.Valid, HostNormalizer.Normalize(header, buffer, out var length));
        Assert.Equal(expected, new string(buffer[..length]));
    }

    [Theory]
    [InlineData("__ping__")]
    [InlineData("__ping__:80")]
    public void Section3_1_ping_with_or_without_port(string header)
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        Assert.Equal(HostKind.Ping, HostNormalizer.Normalize(header, buffer, out _));
    }

    [Fact]
    public void Section3_1_missing_host()
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        Assert.Equal(HostKind.Missing, HostNormalizer.Normalize(string.Empty, buffer, out _));
    }

    [Theory]
    [InlineData("a b.com")]
    [InlineData("user@host.com")]
    [InlineData("host.com/path")]
    [InlineData("a..b")]
    [InlineData(".")]
    [InlineData("host:port")]
    [InlineData("host:123456")]
    [InlineData("[::1")]
    [InlineData("[not-ip]")]
    [InlineData("a:b:c")]
    [InlineData("bad\u0001host")]
    public void Q7_malformed_hosts_are_refused(string header)
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        Assert.Equal(HostKind.Malformed, HostNormalizer.Normalize(header, buffer, out _));
    }

    [Fact]
    public void Q7_over_long_hosts_and_labels_are_refused()
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        Assert.Equal(HostKind.Malformed, HostNormalizer.Normalize(new string('a', 64) + ".com", buffer, out _));
        Assert.Equal(HostKind.Malformed, HostNormalizer.Normalize(string.Join('.', Enumerable.Repeat("abc", 64)), buffer, out _));
        Assert.Equal(HostKind.Valid, HostNormalizer.Normalize(new string('a', 63) + ".com", buffer, out _));
    }
}
