using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>
/// Reads and writes the certificate store (<see cref="RouteKeys.CertificateKeyPrefix"/>). Each
/// certificate is one hash written by one HSET, so a reader sees the old one or the new one, never
/// half of each. The renewal index (<see cref="RouteKeys.CertificateIndexKey"/>) is written after
/// it: on Redis Cluster the two live in different slots, and a listing skips an index entry whose
/// hash is gone. Every write is then published on the change channel so that routers drop their copy.
/// </summary>
public sealed class CertificateStore(RedisConnections connections)
{
    private const string ChainField = "chain";
    private const string KeyField = "key";
    private const string NotAfterField = "not-after";
    private const string UpdatedField = "updated";
    private static readonly RedisValue[] Fields = [ChainField, KeyField, NotAfterField, UpdatedField];

    public async Task PutAsync(StoredCertificate certificate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var keys = connections.Keys;
        var key = keys.Certificate(certificate.Name);
        // One HSET replaces every field: a reader never sees a new chain with an old key.
        await connections.Write.HashSetAsync(key,
        [
            new HashEntry(ChainField, certificate.ChainPem),
            new HashEntry(KeyField, certificate.ProtectedKey),
            new HashEntry(NotAfterField, certificate.NotAfter.ToUnixTimeMilliseconds()),
            new HashEntry(UpdatedField, certificate.UpdatedAt.ToUnixTimeMilliseconds()),
        ]).WaitAsync(cancellationToken).ConfigureAwait(false);
        await connections.Write.SortedSetAddAsync(keys.CertificateIndexKey, certificate.Name, certificate.NotAfter.ToUnixTimeSeconds()).WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishAsync(certificate.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        var keys = connections.Keys;
        var deleted = await connections.Write.KeyDeleteAsync(keys.Certificate(name)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await connections.Write.SortedSetRemoveAsync(keys.CertificateIndexKey, name).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (deleted)
        {
            await PublishAsync(name).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return deleted;
    }

    public async Task<StoredCertificate?> GetAsync(string name, CancellationToken cancellationToken)
    {
        var values = await connections.Write.HashGetAsync(connections.Keys.Certificate(name), Fields).WaitAsync(cancellationToken).ConfigureAwait(false);
        return Read(name, values);
    }

    /// <summary>Several names in one round trip (a router's SNI candidates), from the read connection; null where none is stored.</summary>
    public async Task<StoredCertificate?[]> GetManyAsync(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var batch = connections.Read.CreateBatch();
        var reads = new Task<RedisValue[]>[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            reads[i] = batch.HashGetAsync(connections.Keys.Certificate(names[i]), Fields);
        }

        batch.Execute();
        var found = new StoredCertificate?[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            found[i] = Read(names[i], await reads[i].ConfigureAwait(false));
        }

        return found;
    }

    /// <summary>
    /// Certificates by expiry, soonest first: those whose not-after is before <paramref name="notAfterBefore"/>
    /// (every one when null), from position <paramref name="skip"/>, at most <paramref name="take"/>.
    /// </summary>
    public async Task<(IReadOnlyList<StoredCertificate> Items, bool More)> ListAsync(DateTimeOffset? notAfterBefore, long skip, int take, CancellationToken cancellationToken)
    {
        var keys = connections.Keys;
        var max = notAfterBefore is { } before ? before.ToUnixTimeSeconds() : double.PositiveInfinity;
        var names = await connections.Write.SortedSetRangeByScoreAsync(keys.CertificateIndexKey, double.NegativeInfinity, max, Exclude.Stop, Order.Ascending, skip, take + 1)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        var more = names.Length > take;
        var wanted = names.Take(take).Select(n => n.ToString()).ToArray();
        var batch = connections.Write.CreateBatch();
        var reads = wanted.Select(n => batch.HashGetAsync(keys.Certificate(n), Fields)).ToArray();
        batch.Execute();
        var items = new List<StoredCertificate>(wanted.Length);
        for (var i = 0; i < wanted.Length; i++)
        {
            // An index entry whose hash is gone (a delete between the two writes) is not listed.
            if (Read(wanted[i], await reads[i].WaitAsync(cancellationToken).ConfigureAwait(false)) is { } certificate)
            {
                items.Add(certificate);
            }
        }

        return (items, more);
    }

    private Task<long> PublishAsync(string name) =>
        connections.Write.PublishAsync(RedisChannel.Literal(connections.Keys.ChangeChannel), CertificateNames.ChangeMessage(name));

    private static StoredCertificate? Read(string name, RedisValue[] values)
    {
        if (values.Length != Fields.Length || values[0].IsNullOrEmpty || values[1].IsNullOrEmpty)
        {
            return null;
        }

        return new StoredCertificate(name, values[0].ToString(), values[1].ToString(), Time(values[2]), Time(values[3]));
    }

    private static DateTimeOffset Time(RedisValue value) =>
        long.TryParse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.UnixEpoch;
}
