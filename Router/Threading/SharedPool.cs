namespace Hipache.Aspire.Router.Threading;

/// <summary>
/// A bounded stack of reusable objects that any thread may rent from and return to (the
/// runtime's pools keep them per thread, and a proxied request starts and ends on different
/// ones). Empty: the caller allocates; full: a returned object is dropped.
/// </summary>
internal sealed class SharedPool<T>(int capacity)
    where T : class
{
    private readonly T?[] _items = new T?[capacity];
    private readonly Lock _lock = new();
    private int _count;

    public T? TryRent()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return null;
            }

            var item = _items[--_count];
            _items[_count] = null;
            return item;
        }
    }

    public void Return(T item)
    {
        lock (_lock)
        {
            if (_count < _items.Length)
            {
                _items[_count++] = item;
            }
        }
    }
}
