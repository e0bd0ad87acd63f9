namespace Hipache.Aspire.RouteStore.Tests;

/// <summary>hipache-compat 3.2.</summary>
public sealed class CandidateKeysTests
{
    [Theory]
    [InlineData("a.b.c.d.e.f.g", "a.b.c.d.e.f.g|*.c.d.e.f.g|*.d.e.f.g|*.e.f.g|*.f.g|*.g|*")]
    [InlineData("api.example.org", "api.example.org|*.example.org|*.org|*")]
    [InlineData("localhost", "localhost|*")]
    public void Section3_2_candidates_in_priority_order(string host, string expected) =>
        Assert.Equal(expected.Split('|'), CandidateKeys.For(host));
}
