using System.Reflection;
using System.Runtime.CompilerServices;
using Hipache.Aspire.Router.Threading;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The pooled async builder on the forwarding path: results, exceptions, cancellation and
/// AsyncLocal values behave as with the runtime's builders, and a box returned on one thread is
/// rented again by another (the runtime's pooling builder keeps boxes per thread).
/// </summary>
public sealed class PooledValueTaskMethodBuilderTests
{
    private static readonly AsyncLocal<string?> Ambient = new();

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> AddAfterAsync(Task gate, int value)
    {
        await gate.ConfigureAwait(false);
        return value + 1;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private static async ValueTask ThrowAfterAsync(Task gate, Exception exception)
    {
        await gate.ConfigureAwait(false);
        throw exception;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<string?> AmbientAfterAsync(Task gate, string set)
    {
        var before = Ambient.Value;
        Ambient.Value = set;
        await gate.ConfigureAwait(false);
        return before + "/" + Ambient.Value;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private static async ValueTask CompletesAsync(Task gate, int steps)
    {
        for (var i = 0; i < steps; i++)
        {
            await gate.ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private static async ValueTask HandedOverAsync(Task gate) => await gate.ConfigureAwait(false);

    [Fact]
    public async Task A_method_that_completes_synchronously_needs_no_box()
    {
        var result = AddAfterAsync(Task.CompletedTask, 41);
        Assert.True(result.IsCompletedSuccessfully);
        Assert.Equal(42, await result);
        var done = CompletesAsync(Task.CompletedTask, 3);
        Assert.True(done.IsCompletedSuccessfully);
        await done;
    }

    [Fact]
    public async Task Results_exceptions_and_cancellation_arrive_after_a_suspension()
    {
        for (var round = 0; round < 3; round++)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pending = AddAfterAsync(gate.Task, round);
            Assert.False(pending.IsCompleted);
            gate.SetResult();
            Assert.Equal(round + 1, await pending);

            gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var failing = ThrowAfterAsync(gate.Task, new InvalidOperationException("boom " + round));
            gate.SetResult();
            var thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () => await failing);
            Assert.Equal("boom " + round, thrown.Message);

            gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var cancelled = ThrowAfterAsync(gate.Task, new OperationCanceledException());
            gate.SetResult();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await cancelled);
        }

        // An exception before the first suspension comes back the same way.
        var early = ThrowAfterAsync(Task.CompletedTask, new ArgumentException("early"));
        Assert.True(early.IsFaulted);
        await Assert.ThrowsAsync<ArgumentException>(async () => await early);
    }

    [Fact]
    public async Task A_value_token_is_dead_once_its_result_was_read()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = CompletesAsync(gate.Task, 1);
        gate.SetResult();
        var copy = pending;
        await pending;
        // The box went back to the pool: a second read of the same ValueTask must not see
        // whatever the box holds next.
        Assert.Throws<InvalidOperationException>(() => copy.GetAwaiter().GetResult());
    }

    [Fact]
    public async Task AsyncLocal_values_flow_into_the_method_and_its_changes_stay_inside()
    {
        Ambient.Value = "caller";
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = AmbientAfterAsync(gate.Task, "inside");
        Assert.Equal("caller", Ambient.Value);
        _ = Task.Run(gate.SetResult, TestContext.Current.CancellationToken);
        Assert.Equal("caller/inside", await pending);
        Assert.Equal("caller", Ambient.Value);
    }

    [Fact]
    public async Task A_box_given_back_on_another_thread_is_rented_again()
    {
        // The renting thread starts each call (its first suspension takes a box); the other
        // thread completes it and reads the result (which gives the box back). With per-thread
        // caches every call allocated a box on the renting thread. Both are threads of their
        // own: blocking waits on the test's pool thread would starve the other tests' routers.
        const int calls = 2_000;
        var gates = new TaskCompletionSource[calls];
        for (var i = 0; i < calls; i++)
        {
            gates[i] = new TaskCompletionSource();
        }

        using var started = new SemaphoreSlim(0);
        using var finished = new SemaphoreSlim(0);
        ValueTask handedOver = default;
        var completer = new Thread(() =>
        {
            for (var i = 0; i < calls; i++)
            {
                started.Wait();
                gates[i].SetResult();
                handedOver.GetAwaiter().GetResult();
                finished.Release();
            }
        });
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var renter = new Thread(() =>
        {
            for (var i = 0; i < calls; i++)
            {
                handedOver = HandedOverAsync(gates[i].Task);
                started.Release();
                finished.Wait();
            }

            done.SetResult();
        });
        completer.Start();
        renter.Start();
        await done.Task.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        completer.Join();

        // Each call's box was back in the pool before the next call: one box for all of them.
        // Only this method's boxes are counted (other tests run the forwarder meanwhile).
        var stateMachine = typeof(PooledValueTaskMethodBuilderTests).GetMethod(nameof(HandedOverAsync), BindingFlags.NonPublic | BindingFlags.Static)!
            .GetCustomAttribute<AsyncStateMachineAttribute>()!.StateMachineType;
        var created = (long)typeof(PooledStateMachineBox<,>).MakeGenericType(typeof(VoidResult), stateMachine)
            .GetProperty("Created", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
        Assert.Equal(1, created);
    }
}
