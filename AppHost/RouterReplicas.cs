using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Hipache.Aspire.AppHost;

/// <summary>
/// How many router processes the AppHost runs on the one Redis: <c>Parameters:router-replicas</c>
/// (<c>dotnet run --project AppHost -- --Parameters:router-replicas=3</c>, or the environment
/// variable <c>Parameters__router-replicas</c>), default 2. Routers share nothing but Redis, so
/// the dev run is the production topology in small.
/// </summary>
internal static class RouterReplicas
{
    public const string Key = "Parameters:router-replicas";
    public const int Default = 2;
    public const int Max = 16;

    public static int Read(IConfiguration configuration)
    {
        var text = configuration[Key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return Default;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var replicas) || replicas is < 1 or > Max)
        {
            throw new InvalidOperationException($"{Key} is '{text}': use a whole number from 1 to {Max}.");
        }

        return replicas;
    }
}
