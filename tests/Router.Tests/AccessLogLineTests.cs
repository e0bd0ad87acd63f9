using System.Globalization;
using System.Text;
using Hipache.Aspire.Router.AccessLog;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 5.7: TOTAL and BACKEND are milliseconds / 1000 in shortest form.</summary>
public sealed class AccessLogLineTests
{
    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.4, "0")]
    [InlineData(0.5, "0")]
    [InlineData(1.5, "0.002")]
    [InlineData(14.0, "0.014")]
    [InlineData(100.0, "0.1")]
    [InlineData(120.0, "0.12")]
    [InlineData(1000.0, "1")]
    [InlineData(1500.0, "1.5")]
    [InlineData(1234567.8, "1234.568")]
    public void Seconds_are_written_as_Hipache_prints_them(double milliseconds, string expected)
    {
        var builder = new StringBuilder();
        AccessLogLine.AppendSeconds(builder, TimeSpan.FromMilliseconds(milliseconds));
        Assert.Equal(expected, builder.ToString());
    }

    [Fact]
    public void Seconds_match_the_rounded_milliseconds_formatted_as_0_point_three_hashes_over_a_sweep()
    {
        var builder = new StringBuilder();
        for (var ticks = 0L; ticks < TimeSpan.FromSeconds(12).Ticks; ticks += 3_777)
        {
            var elapsed = TimeSpan.FromTicks(ticks);
            builder.Clear();
            AccessLogLine.AppendSeconds(builder, elapsed);
            Assert.Equal((Math.Round(elapsed.TotalMilliseconds) / 1000).ToString("0.###", CultureInfo.InvariantCulture), builder.ToString());
        }
    }
}
