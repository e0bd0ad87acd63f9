using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hipache.Aspire.Router.Threading;

/// <summary>
/// Builds <see cref="ValueTask{TResult}"/>-returning async methods whose state machine boxes come
/// from a pool shared by every thread (<see cref="PooledStateMachineBox{TResult}"/>). The
/// runtime's <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/> caches one box per thread
/// and one per core: a proxied exchange starts on the socket thread of the client's connection
/// and completes on the one of the backend's, so its boxes went back where they were never rented
/// again and every exchange still allocated one (bench/RESULTS.md). Apply with
/// <c>[AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder&lt;&gt;))]</c>, on hot methods only.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct PooledValueTaskMethodBuilder<TResult>
{
    private PooledStateMachineBox<TResult>? _box;
    private Exception? _exception;
    private TResult _result;

    public static PooledValueTaskMethodBuilder<TResult> Create() => default;

    /// <summary>The box, once the method has suspended (for the <see cref="ValueTask"/> form).</summary>
    internal readonly PooledStateMachineBox<TResult>? Box => _box;

    /// <summary>The exception of a method that failed before suspending.</summary>
    internal readonly Exception? Exception => _exception;

    public readonly ValueTask<TResult> Task =>
        _box is { } box ? new ValueTask<TResult>(box, box.Version)
        : _exception is not null ? ValueTask.FromException<TResult>(_exception)
        : new ValueTask<TResult>(_result);

    // The runtime's Start: runs the first step and restores the caller's ExecutionContext after it.
    // Start and SetStateMachine are instance methods because the compiler calls them so.
#pragma warning disable CA1822
    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        AsyncTaskMethodBuilder.Create().Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }
#pragma warning restore CA1822

    public void SetResult(TResult result)
    {
        if (_box is null)
        {
            _result = result;
        }
        else
        {
            _box.SetResult(result);
        }
    }

    public void SetException(Exception exception)
    {
        if (_box is null)
        {
            _exception = exception;
        }
        else
        {
            _box.SetException(exception);
        }
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(PooledStateMachineBox<TResult>.For(ref _box, ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(PooledStateMachineBox<TResult>.For(ref _box, ref stateMachine).MoveNextAction);
}

/// <summary>The <see cref="ValueTask"/> form of <see cref="PooledValueTaskMethodBuilder{TResult}"/>, which it wraps.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct PooledValueTaskMethodBuilder
{
    private PooledValueTaskMethodBuilder<VoidResult> _inner;

    public static PooledValueTaskMethodBuilder Create() => default;

    public readonly ValueTask Task =>
        _inner.Box is { } box ? new ValueTask(box, box.Version)
        : _inner.Exception is { } exception ? ValueTask.FromException(exception)
        : default;

#pragma warning disable CA1822 // instance methods because the compiler calls them so
    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        AsyncTaskMethodBuilder.Create().Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }
#pragma warning restore CA1822

    public void SetResult() => _inner.SetResult(default);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

/// <summary>The result of a <see cref="ValueTask"/>, for the boxes it shares with <see cref="ValueTask{TResult}"/>.</summary>
internal readonly struct VoidResult;
