using System.Buffers;
using System.IO.Pipelines;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// A <see cref="PipeWriter"/> that drops what is written: for a body that must be read to keep
/// the backend connection in step but not relayed (a 205's). One shared scratch buffer; only its
/// length matters, its contents are never read.
/// </summary>
internal sealed class DiscardingWriter : PipeWriter
{
    public static readonly DiscardingWriter Instance = new();

    private static readonly byte[] Scratch = new byte[16 * 1024];

    private DiscardingWriter()
    {
    }

    public override void Advance(int bytes)
    {
    }

    public override void CancelPendingFlush()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(new FlushResult(false, false));

    public override Memory<byte> GetMemory(int sizeHint = 0) => sizeHint <= Scratch.Length ? Scratch : new byte[sizeHint];

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
}
