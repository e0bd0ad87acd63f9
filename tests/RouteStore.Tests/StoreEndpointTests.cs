namespace Hipache.Aspire.RouteStore.Tests;

/// <summary>hipache-compat 2.8: driver URLs, and Aspire's connection strings.</summary>
public sealed class StoreEndpointTests
{
    [Fact]
    public void Section2_8_bare_scheme_means_local_default()
    {
        var endpoint = StoreEndpoint.Parse("redis:");
        Assert.Equal("127.0.0.1:6379", endpoint.Options.EndPoints.Single().ToString());
        Assert.Equal(0, endpoint.Database);
        Assert.Equal(string.Empty, endpoint.Prefix);
    }

    [Fact]
    public void Section2_8_password_database_and_prefix()
    {
        var endpoint = StoreEndpoint.Parse("redis://user:s3cret@redis.internal:6380/2#pfx:");
        Assert.Equal("s3cret", endpoint.Options.Password);
        Assert.Equal(2, endpoint.Database);
        Assert.Equal("pfx:", endpoint.Prefix);
        Assert.Contains("6380", endpoint.Options.EndPoints.Single().ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Aspire_connection_string_is_accepted()
    {
        var endpoint = StoreEndpoint.Parse("localhost:6379,password=abc");
        Assert.Equal("abc", endpoint.Options.Password);
    }

    [Theory]
    [InlineData("redis://host:99999")]
    [InlineData("redis://host/x")]
    public void Invalid_driver_urls_fail_clearly(string url) =>
        Assert.Throws<FormatException>(() => StoreEndpoint.Parse(url));

    [Fact]
    public void Passwords_never_appear_in_descriptions()
    {
        Assert.DoesNotContain("s3cret", StoreEndpoint.Redact("redis://:s3cret@host:6379"), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", StoreEndpoint.Redact("host:6379,password=s3cret,ssl=true"), StringComparison.Ordinal);
    }
}
