using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The root sampler of <see cref="ServerSpans.Sampled"/>: a root server span exists only because
/// <see cref="RequestSpans"/> already chose to sample its request, so it is recorded; any other
/// root (a background client call, say) is dropped.
/// </summary>
internal sealed class DecidedServerSpanSampler : Sampler
{
    private static readonly SamplingResult Record = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    public DecidedServerSpanSampler() => Description = nameof(DecidedServerSpanSampler);

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        samplingParameters.Kind == ActivityKind.Server ? Record : Drop;
}
