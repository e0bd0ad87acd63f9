using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Routing;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Tests;

/// <summary>Q13: a dead mark follows its backend's URL for as long as its dead set lives.</summary>
public sealed class DeadMarkBookTests
{
    private static readonly BackendAddress A = BackendAddress.Parse("http://10.0.0.1:80");
    private static readonly BackendAddress B = BackendAddress.Parse("http://10.0.0.2:80");
    private static readonly BackendAddress C = BackendAddress.Parse("http://10.0.0.3:80");

    private readonly ManualClock _clock = new();
    private readonly DeadMarkBook _book;

    public DeadMarkBookTests() =>
        _book = new DeadMarkBook(Options.Create(new RouterOptions { DeadBackendTtl = TimeSpan.FromSeconds(30), MaxEjectionTime = TimeSpan.FromMinutes(5) }), _clock);

    [Fact]
    public void A_mark_ejected_for_longer_than_DeadBackendTtl_still_follows_its_url_when_the_list_is_reordered()
    {
        _book.Record("h.test", 1, B.Href, TimeSpan.FromMinutes(2));
        _clock.Advance(TimeSpan.FromSeconds(90));

        // LREM + RPUSH moved B to the end: position 1 now holds C, which is healthy.
        Assert.Equal([false, false, true], Apply("h.test", [1], A, C, B));
    }

    [Fact]
    public void A_later_mark_extends_the_whole_set_so_an_earlier_position_keeps_its_url()
    {
        // Every mark extends the set's TTL to the longest: the first member lives as long.
        _book.Record("h.test", 0, A.Href, TimeSpan.FromSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(20));
        _book.Record("h.test", 2, C.Href, TimeSpan.FromMinutes(4));
        _clock.Advance(TimeSpan.FromMinutes(3));

        Assert.Equal([false, true, true], Apply("h.test", [0, 2], B, A, C));
    }

    [Fact]
    public void A_dead_message_from_another_router_is_kept_as_long_as_an_ejection_can_last()
    {
        Assert.Equal("h.test", _book.RecordMessage($"h.test;{B.Href};1;3"));
        _clock.Advance(TimeSpan.FromMinutes(4));

        Assert.Equal([false, false, true], Apply("h.test", [1], A, C, B));
    }

    [Fact]
    public void Once_the_set_has_expired_a_position_is_read_as_it_is_and_old_records_are_forgotten()
    {
        _book.Record("h.test", 1, B.Href, TimeSpan.FromSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal([false, true, false], Apply("h.test", [1], A, C, B));

        // A new set: the old position 1 record does not come back with it.
        _book.Record("h.test", 0, A.Href, TimeSpan.FromSeconds(30));
        Assert.Equal([true, true, false], Apply("h.test", [0, 1], A, C, B));
    }

    [Fact]
    public void A_mark_whose_url_left_the_list_keeps_its_position()
    {
        _book.Record("h.test", 1, "http://10.9.9.9:80/", TimeSpan.FromSeconds(30));
        Assert.Equal([false, true, false], Apply("h.test", [1], A, B, C));
    }

    private bool[] Apply(string key, int[] indexes, params BackendAddress[] backends)
    {
        var dead = new bool[backends.Length];
        _book.Apply(key, new HashSet<int>(indexes), backends, dead);
        return dead;
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = TimeSpan.FromDays(1).Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
