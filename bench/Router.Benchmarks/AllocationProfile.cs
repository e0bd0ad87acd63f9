using System.Diagnostics.Tracing;

namespace Hipache.Aspire.Router.Benchmarks;

/// <summary>
/// <c>-- --allocations [Native|Yarp] [requests]</c>: which types a proxied request allocates,
/// from the runtime's sampled allocation events (one per ~100 KB allocated, so each type's share
/// of the samples is its share of the bytes). MemoryDiagnoser says how much; this says what.
/// </summary>
internal static class AllocationProfile
{
    public static void Run(string forwarder, int requests)
    {
        var benchmark = new ProxiedRequestBenchmarks { Forwarder = forwarder };
        benchmark.Setup();
        try
        {
            for (var i = 0; i < 20_000; i++)
            {
                benchmark.ProxiedRequest();
            }

            using var listener = new AllocationListener();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < requests; i++)
            {
                benchmark.ProxiedRequest();
            }

            var perRequest = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)requests;
            listener.Dispose();
            Console.WriteLine($"{forwarder}: {perRequest:F0} B per proxied request over {requests} requests");
            var total = listener.Samples.Values.Sum();
            foreach (var (type, bytes) in listener.Samples.OrderByDescending(pair => pair.Value).Take(25))
            {
                Console.WriteLine($"{bytes * 100.0 / total,6:F1} %  {bytes * perRequest / total,6:F0} B  {type}");
            }
        }
        finally
        {
            benchmark.Cleanup();
        }
    }

    private sealed class AllocationListener : EventListener
    {
        private const EventKeywords GcKeyword = (EventKeywords)0x1;

        public Dictionary<string, long> Samples { get; } = [];

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || eventData.Payload is null)
            {
                return;
            }

            var type = eventData.PayloadNames!.IndexOf("TypeName") is var at and >= 0 ? eventData.Payload[at] as string ?? "?" : "?";
            var amount = eventData.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(eventData.Payload[a], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
            lock (Samples)
            {
                Samples[type] = Samples.GetValueOrDefault(type) + amount;
            }
        }
    }
}
