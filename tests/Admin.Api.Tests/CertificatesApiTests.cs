using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>/v1/certificates: uploads checked, keys encrypted at rest and never returned, renewal listing.</summary>
public sealed class CertificatesApiTests(AdminApiFixture fixture) : IDisposable
{
    private readonly TestCertificates _ca = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task A_certificate_is_stored_with_its_key_encrypted_read_back_without_the_key_replaced_and_deleted()
    {
        using var client = fixture.CreateClient();
        var host = $"tls-{Guid.NewGuid():N}.test";
        var first = _ca.Issue([host, "www." + host], rsa: true);

        using var created = await client.PutAsJsonAsync($"/v1/certificates/{host.ToUpperInvariant()}", new { certificate = first.ChainPem, key = first.KeyPem }, Ct);
        var createdText = await created.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/v1/certificates/{host}", created.Headers.Location?.OriginalString);
        var view = JsonDocument.Parse(createdText).RootElement;
        Assert.Equal(host, view.GetProperty("name").GetString());
        Assert.Equal(first.Fingerprint, view.GetProperty("fingerprintSha256").GetString());
        Assert.Equal([host, "www." + host], view.GetProperty("dnsNames").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("RSA 2048", view.GetProperty("keyAlgorithm").GetString());
        Assert.Equal(2, view.GetProperty("chainLength").GetInt32());
        Assert.Equal($"CN={host}", view.GetProperty("subject").GetString());
        Assert.Contains("Test CA", view.GetProperty("issuer").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", createdText, StringComparison.Ordinal);
        Assert.False(view.TryGetProperty("key", out _));

        // At rest: the chain as sent, the key encrypted with the configured key id, nowhere in clear.
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var stored = (await db.HashGetAllAsync(fixture.Prefix + "hipache-aspire:cert:" + host)).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.StartsWith("v1:test:", stored["key"], StringComparison.Ordinal);
        var pkcs8 = Convert.ToBase64String(PemEncoding.Find(first.KeyPem) is var pem ? Convert.FromBase64String(first.KeyPem[pem.Base64Data]) : []);
        Assert.DoesNotContain(pkcs8[..40], stored["key"], StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", string.Concat(stored.Values), StringComparison.Ordinal);
        Assert.Contains(first.Leaf.ExportCertificatePem().Trim(), stored["chain"], StringComparison.Ordinal);
        Assert.Equal(Math.Floor(first.Leaf.NotAfter.ToUniversalTime().Subtract(DateTime.UnixEpoch).TotalSeconds), await db.SortedSetScoreAsync(fixture.Prefix + "hipache-aspire:certs", host));

        var read = await client.GetFromJsonAsync<JsonElement>($"/v1/certificates/{host}", Ct);
        Assert.Equal(first.Fingerprint, read.GetProperty("fingerprintSha256").GetString());

        // Replacing (a renewal) answers 200 with the new one.
        var second = _ca.Issue([host]);
        using var replaced = await client.PutAsJsonAsync($"/v1/certificates/{host}", new { certificate = second.ChainPem, key = second.KeyPem }, Ct);
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Equal(second.Fingerprint, (await replaced.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("fingerprintSha256").GetString());
        Assert.Equal("ECDSA P-256", (await client.GetFromJsonAsync<JsonElement>($"/v1/certificates/{host}", Ct)).GetProperty("keyAlgorithm").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/certificates/{host}", Ct)).StatusCode);
        using var gone = await client.GetAsync($"/v1/certificates/{host}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("application/problem+json", gone.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/v1/certificates/{host}", Ct)).StatusCode);
        Assert.False(await db.KeyExistsAsync(fixture.Prefix + "hipache-aspire:cert:" + host));
        Assert.Null(await db.SortedSetScoreAsync(fixture.Prefix + "hipache-aspire:certs", host));
    }

    [Fact]
    public async Task Wildcard_and_default_certificates_are_stored_under_their_names()
    {
        using var client = fixture.CreateClient();
        var zone = $"z{Guid.NewGuid():N}.test";
        var wildcard = _ca.Issue(["*." + zone]);
        using (var response = await client.PutAsJsonAsync($"/v1/certificates/*.{zone}", new { certificate = wildcard.ChainPem, key = wildcard.KeyPem }, Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        // A host under the wildcard may be stored with the wildcard certificate too.
        using (var response = await client.PutAsJsonAsync($"/v1/certificates/api.{zone}", new { certificate = wildcard.ChainPem, key = wildcard.KeyPem }, Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        // The default certificate needs no particular name.
        var fallback = _ca.Issue(["fallback.invalid"]);
        using (var response = await client.PutAsJsonAsync("/v1/certificates/_default", new { certificate = fallback.ChainPem, key = fallback.KeyPem }, Ct))
        {
            Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK);
            Assert.Equal("_default", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("name").GetString());
        }
    }

    [Fact]
    public async Task Every_bad_upload_is_refused_with_a_problem_naming_the_field_and_nothing_is_stored()
    {
        using var client = fixture.CreateClient();
        var host = $"bad-{Guid.NewGuid():N}.test";
        var good = _ca.Issue([host]);
        var other = _ca.Issue([host]);
        using var otherCa = new TestCertificates("Another CA");
        var foreign = otherCa.Issue([host]);
        var expired = _ca.Issue([host], DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        var future = _ca.Issue([host], DateTimeOffset.UtcNow.AddDays(2), DateTimeOffset.UtcNow.AddDays(90));
        var elsewhere = _ca.Issue(["elsewhere.test"]);
        var wildcard = _ca.Issue(["*.bad.test"]);
        using var encryptedKey = ECDsa.Create();
        var encryptedPem = encryptedKey.ExportEncryptedPkcs8PrivateKeyPem("secret", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000));
        var leafOnly = good.Leaf.ExportCertificatePem();

        (string Name, object Body, string Field, string Says)[] cases =
        [
            (host, new { certificate = good.ChainPem, key = other.KeyPem }, "key", "does not fit"),
            (host, new { certificate = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", key = good.KeyPem }, "certificate", "PEM"),
            (host, new { certificate = "hello", key = good.KeyPem }, "certificate", "No '-----BEGIN CERTIFICATE-----'"),
            (host, new { certificate = (string?)null, key = good.KeyPem }, "certificate", "required"),
            (host, new { certificate = good.ChainPem, key = (string?)null }, "key", "required"),
            (host, new { certificate = good.ChainPem, key = "garbage" }, "key", "does not fit"),
            (host, new { certificate = good.ChainPem, key = encryptedPem }, "key", "encrypted"),
            (host, new { certificate = expired.ChainPem, key = expired.KeyPem }, "certificate", "expired"),
            (host, new { certificate = future.ChainPem, key = future.KeyPem }, "certificate", "not valid before"),
            (host, new { certificate = elsewhere.ChainPem, key = elsewhere.KeyPem }, "certificate", "not covered"),
            (host, new { certificate = leafOnly + "\n" + otherCa.Ca.ExportCertificatePem(), key = good.KeyPem }, "certificate", "not in order"),
            ("*.bad.test", new { certificate = _ca.Issue(["a.bad.test"]).ChainPem, key = good.KeyPem }, "certificate", "not covered"),
            ("deep.a.bad.test", new { certificate = wildcard.ChainPem, key = wildcard.KeyPem }, "certificate", "not covered"),
            ("*", new { certificate = good.ChainPem, key = good.KeyPem }, "name", "not a TLS name"),
            ("bad host", new { certificate = good.ChainPem, key = good.KeyPem }, "name", "hostname"),
        ];
        Assert.NotEqual(good.Fingerprint, foreign.Fingerprint);

        foreach (var (name, body, field, says) in cases)
        {
            using var response = await client.PutAsJsonAsync($"/v1/certificates/{Uri.EscapeDataString(name)}", body, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(HttpStatusCode.BadRequest == response.StatusCode, $"{name} {field} ({says}): {(int)response.StatusCode} {text}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var errors = JsonDocument.Parse(text).RootElement.GetProperty("errors");
            Assert.True(errors.TryGetProperty(field, out var messages), $"{says}: {text}");
            Assert.Contains(messages.EnumerateArray(), m => m.GetString()!.Contains(says, StringComparison.OrdinalIgnoreCase));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/certificates/{host}", Ct)).StatusCode);

        // Every problem of one upload is reported at once.
        using var both = await client.PutAsJsonAsync($"/v1/certificates/{host}", new { certificate = elsewhere.ChainPem, key = (string?)null }, Ct);
        var bothErrors = (await both.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errors");
        Assert.True(bothErrors.TryGetProperty("certificate", out _) && bothErrors.TryGetProperty("key", out _), bothErrors.ToString());
    }

    [Fact]
    public async Task The_renewal_listing_is_soonest_first_filters_by_expiringWithin_and_pages()
    {
        // Its own prefix and Redis: the listing sees this test's certificates only.
        await using var own = new AdminApiFixture();
        await own.InitializeAsync();
        using var client = own.CreateClient();
        var now = DateTimeOffset.UtcNow;
        foreach (var (name, days) in new[] { ("late.test", 400), ("soon.test", 10), ("month.test", 40) })
        {
            var certificate = _ca.Issue([name], notAfter: now.AddDays(days));
            using var response = await client.PutAsJsonAsync($"/v1/certificates/{name}", new { certificate = certificate.ChainPem, key = certificate.KeyPem }, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var all = await client.GetFromJsonAsync<JsonElement>("/v1/certificates", Ct);
        Assert.Equal(["soon.test", "month.test", "late.test"], Names(all));
        Assert.False(all.TryGetProperty("nextCursor", out _));

        Assert.Equal(["soon.test"], Names(await client.GetFromJsonAsync<JsonElement>("/v1/certificates?expiringWithin=30d", Ct)));
        Assert.Equal(["soon.test", "month.test"], Names(await client.GetFromJsonAsync<JsonElement>("/v1/certificates?expiringWithin=1000h", Ct)));

        var page = await client.GetFromJsonAsync<JsonElement>("/v1/certificates?limit=2", Ct);
        Assert.Equal(["soon.test", "month.test"], Names(page));
        var next = page.GetProperty("nextCursor").GetString();
        var last = await client.GetFromJsonAsync<JsonElement>($"/v1/certificates?limit=2&cursor={next}", Ct);
        Assert.Equal(["late.test"], Names(last));

        foreach (var bad in new[] { "expiringWithin=soon", "expiringWithin=-1d", "limit=0", "cursor=abc" })
        {
            using var response = await client.GetAsync($"/v1/certificates?{bad}", Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Without_a_key_to_protect_private_keys_uploads_are_refused_and_a_malformed_key_stops_the_start()
    {
        await using var off = new AdminApiFixture { CertificateStore = false };
        await off.InitializeAsync();
        using var client = off.CreateClient();
        var certificate = _ca.Issue(["off.test"]);
        using var response = await client.PutAsJsonAsync("/v1/certificates/off.test", new { certificate = certificate.ChainPem, key = certificate.KeyPem }, Ct);
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("CertificateStore:Keys", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await using var malformed = new AdminApiFixture
        {
            CertificateStore = false,
            Configure = web => web.UseSetting("CertificateStore:Keys:k1", "too-short"),
        };
        await malformed.InitializeAsync();
        var error = Assert.ThrowsAny<Exception>(() => malformed.CreateClient());
        Assert.Contains("CertificateStore:Keys:k1", error.ToString(), StringComparison.Ordinal);
    }

    private static string?[] Names(JsonElement page) => [.. page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString())];
}
