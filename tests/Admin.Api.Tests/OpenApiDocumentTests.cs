using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

public sealed class OpenApiDocumentTests(AdminApiFixture fixture)
{
    [Fact]
    public async Task The_document_declares_the_api_key_on_v1_operations_only_and_carries_examples()
    {
        using var anonymous = fixture.CreateClient(null);
        using var document = JsonDocument.Parse(await anonymous.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken));
        var root = document.RootElement;
        var scheme = root.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());

        var paths = root.GetProperty("paths");
        foreach (var path in new[] { "/v1/frontends", "/v1/frontends/{host}", "/v1/apps", "/v1/apps/{app}", "/v1/apps/{app}/backends" })
        {
            foreach (var operation in paths.GetProperty(path).EnumerateObject())
            {
                Assert.True(operation.Value.TryGetProperty("security", out var security) && security.GetArrayLength() == 1, $"{operation.Name} {path} declares no security");
            }
        }

        Assert.True(paths.GetProperty("/v1/apps/{app}").GetProperty("put").GetProperty("responses").TryGetProperty("409", out _));
        Assert.True(paths.GetProperty("/v1/frontends/{host}").GetProperty("put").GetProperty("responses").TryGetProperty("412", out _));
        var schemas = root.GetProperty("components").GetProperty("schemas");
        Assert.Equal(JsonValueKind.Array, schemas.GetProperty("AppWrite").GetProperty("examples").ValueKind);
    }

    [Fact]
    public async Task Writes_document_the_wait_parameter_and_the_202_answer()
    {
        using var client = fixture.CreateClient(null);
        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken));
        var paths = document.RootElement.GetProperty("paths");
        foreach (var (path, method) in new[] { ("/v1/frontends/{host}", "put"), ("/v1/frontends/{host}/backends", "post"), ("/v1/apps/{app}", "delete"), ("/v1/frontends/{host}/dead", "delete") })
        {
            var operation = paths.GetProperty(path).GetProperty(method);
            Assert.Contains(operation.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "wait" && p.GetProperty("in").GetString() == "query");
            Assert.True(operation.GetProperty("responses").TryGetProperty("202", out _), $"{method} {path} documents no 202");
        }

        var read = paths.GetProperty("/v1/frontends/{host}").GetProperty("get");
        Assert.DoesNotContain(read.TryGetProperty("parameters", out var parameters) ? parameters.EnumerateArray().ToArray() : [], p => p.GetProperty("name").GetString() == "wait");
    }

    [Fact]
    public async Task The_api_reference_page_is_served_without_a_key()
    {
        using var anonymous = fixture.CreateClient(null);
        var response = await anonymous.GetAsync("/scalar/v1", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var page = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains("<title>Hipache.Aspire admin API</title>", page, StringComparison.Ordinal);
        Assert.Matches(@"""preferredSecurityScheme""\s*:\s*\[\s*""ApiKey""\s*\]", page);
    }
}
