namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Tests that start whole Redis topologies (a cluster, Sentinels) and drive load through a router
/// process: run on their own, after the parallel tests, so that neither starves the other's timing.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Topologies
{
    public const string Name = "Redis topologies";
}
