using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Hipache.Aspire.Router.Threading;

/// <summary>
/// What a suspended async method lives in while it waits: its state machine, its
/// ExecutionContext and the completion its awaiter waits on. Taken from a pool at the method's
/// first suspension and given back once its awaiter has read the result, which also invalidates
/// every copy of the <see cref="ValueTask"/> that pointed at it (the token changes).
/// </summary>
internal abstract class PooledStateMachineBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private static readonly ContextCallback MoveNextInContext = static box => ((PooledStateMachineBox<TResult>)box!).MoveNextCore();

    // Continuations run where the result is set, as the runtime's builders do.
    private ManualResetValueTaskSourceCore<TResult> _completion;
    private Action? _moveNextAction;

    public ExecutionContext? Context { get; set; }

    public short Version => _completion.Version;

    /// <summary>One delegate per box for its whole pooled life.</summary>
    public Action MoveNextAction => _moveNextAction ??= MoveNext;

    /// <summary>The box of the method whose builder holds <paramref name="slot"/>, rented at its first suspension.</summary>
    public static PooledStateMachineBox<TResult> For<TStateMachine>(ref PooledStateMachineBox<TResult>? slot, ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        var context = ExecutionContext.Capture();
        if (slot is PooledStateMachineBox<TResult, TStateMachine> existing)
        {
            existing.Context = context;
            return existing;
        }

        // The builder in the caller's copy learns its box before that copy is boxed, so both the
        // caller (which reads Task) and the boxed copy (which runs from now on) share it.
        var box = PooledStateMachineBox<TResult, TStateMachine>.Rent();
        slot = box;
        box.StateMachine = stateMachine;
        box.Context = context;
        return box;
    }

    public void SetResult(TResult result) => _completion.SetResult(result);

    public void SetException(Exception exception) => _completion.SetException(exception);

    public TResult GetResult(short token)
    {
        try
        {
            return _completion.GetResult(token);
        }
        finally
        {
            ReturnToPool();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _completion.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _completion.OnCompleted(continuation, state, token, flags);

    private void MoveNext()
    {
        if (Context is { } context)
        {
            ExecutionContext.Run(context, MoveNextInContext, this);
        }
        else
        {
            MoveNextCore();
        }
    }

    protected abstract void MoveNextCore();

    /// <summary>Forgets the finished method and the result, and makes the box rentable.</summary>
    private protected void Reset()
    {
        Context = null;
        _completion.Reset();
    }

    private protected abstract void ReturnToPool();
}

/// <summary>The box for one async method (its state machine type), with that method's pool.</summary>
internal sealed class PooledStateMachineBox<TResult, TStateMachine> : PooledStateMachineBox<TResult>
    where TStateMachine : IAsyncStateMachine
{
    // Enough for every exchange in flight on a busy router; beyond it boxes are allocated and
    // dropped, as without a pool.
    private static readonly SharedPool<PooledStateMachineBox<TResult, TStateMachine>> Pool = new(1024);

    public TStateMachine? StateMachine;

    private static long s_created;

    /// <summary>How many boxes of this method were allocated because the pool was empty.</summary>
    public static long Created => Volatile.Read(ref s_created);

    public static PooledStateMachineBox<TResult, TStateMachine> Rent()
    {
        if (Pool.TryRent() is { } pooled)
        {
            return pooled;
        }

        Interlocked.Increment(ref s_created);
        return new PooledStateMachineBox<TResult, TStateMachine>();
    }

    protected override void MoveNextCore() => StateMachine!.MoveNext();

    private protected override void ReturnToPool()
    {
        StateMachine = default;
        Reset();
        Pool.Return(this);
    }
}
