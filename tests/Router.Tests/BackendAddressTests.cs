using Hipache.Aspire.Router.Routing;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 2.3, Q15, Q16.</summary>
public sealed class BackendAddressTests
{
    [Theory]
    [InlineData("http://10.0.0.7:8080", "http://10.0.0.7:8080", "http://10.0.0.7:8080/")]
    [InlineData("http://Backend.Local", "http://backend.local:80", "http://backend.local/")]
    [InlineData("https://10.0.0.5", "http://10.0.0.5:80", "https://10.0.0.5/")]
    [InlineData("ws://10.0.0.5:9000/socket", "http://10.0.0.5:9000", "ws://10.0.0.5:9000/socket")]
    [InlineData("http://[::1]:8080", "http://[::1]:8080", "http://[::1]:8080/")]
    [InlineData("10.0.0.5:8080", "http://10.0.0.5:8080", "http://10.0.0.5:8080/")]
    [InlineData("H2C://Grpc.Local:50051", "http://grpc.local:50051", "h2c://grpc.local:50051/")]
    public void Section2_3_only_host_and_port_are_used(string url, string destination, string href)
    {
        var backend = BackendAddress.Parse(url);
        Assert.True(backend.IsValid);
        Assert.Equal(destination, backend.DestinationPrefix);
        Assert.Equal(href, backend.Href);
    }

    [Theory]
    [InlineData("")]
    [InlineData("http://")]
    [InlineData("http://host:notaport")]
    [InlineData("http://host:70000")]
    public void Section2_3_urls_without_a_usable_host_are_invalid(string url) =>
        Assert.False(BackendAddress.Parse(url).IsValid);

    [Fact]
    public void Q15_scheme_and_path_are_flagged_as_ignored()
    {
        Assert.True(BackendAddress.Parse("https://10.0.0.5").HasIgnoredParts);
        Assert.True(BackendAddress.Parse("http://10.0.0.5/prefix").HasIgnoredParts);
        Assert.False(BackendAddress.Parse("http://10.0.0.5:80/").HasIgnoredParts);
    }

    [Fact]
    public void H2c_is_this_projects_extension_http2_with_prior_knowledge_to_the_same_address()
    {
        var h2c = BackendAddress.Parse("h2c://10.0.0.9:50051");
        Assert.True(h2c.IsHttp2);
        Assert.False(h2c.HasIgnoredParts);
        Assert.Equal("http://10.0.0.9:50051", h2c.DestinationPrefix);
        Assert.True(BackendAddress.Parse("h2c://10.0.0.9:50051/prefix").HasIgnoredParts);
        Assert.False(BackendAddress.Parse("http://10.0.0.9:50051").IsHttp2);
        Assert.False(BackendAddress.Parse("https://10.0.0.9").IsHttp2);
        Assert.False(BackendAddress.Parse("10.0.0.9:50051").IsHttp2);
    }
}
