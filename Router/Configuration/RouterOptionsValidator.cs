using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Configuration;

/// <summary>Collects every problem of the configuration, not only the first, so one restart fixes them all.</summary>
internal sealed class RouterOptionsValidator : IValidateOptions<RouterOptions>
{
    public ValidateOptionsResult Validate(string? name, RouterOptions options)
    {
        var errors = new List<string>();
        if (options.ManagementPort is < 0 or > 65535)
        {
            errors.Add($"Router:ManagementPort must be between 0 and 65535 (is {options.ManagementPort}).");
        }

        if (!string.IsNullOrEmpty(options.Via) && !Forwarding.IntermediaryHeaders.IsValidPseudonym(options.Via))
        {
            errors.Add($"Router:Via must be a token of 1-64 letters, digits or !#$%&'*+-.^_`|~ (is '{options.Via}').");
        }

        if (options.RetryOnError < 0)
        {
            errors.Add($"Router:RetryOnError must be 0 or more (is {options.RetryOnError}).");
        }

        if (options.DeadBackendTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add("Router:DeadBackendTtl must be at least one second (Redis EXPIRE counts seconds).");
        }

        if (options.TcpTimeout < TimeSpan.Zero || options.ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add("Router:TcpTimeout must be 0 (off) or more and Router:ConnectTimeout more than 0.");
        }

        if (options.RouteCacheTtl <= TimeSpan.Zero || options.MaxStaleness < options.RouteCacheTtl)
        {
            errors.Add("Router:RouteCacheTtl must be more than 0 and Router:MaxStaleness at least as long.");
        }

        if (options.HttpsRedirectPort is < 1 or > 65535)
        {
            errors.Add("Router:HttpsRedirectPort must be a port (1-65535).");
        }

        if (options.CertificateCacheSize < 4 || options.CertificateCacheTtl <= TimeSpan.Zero)
        {
            errors.Add("Router:CertificateCacheSize must be at least 4 and Router:CertificateCacheTtl more than 0.");
        }

        if (options.RouteCacheSize < 1 || options.RouteCacheNegativeSize < 1)
        {
            errors.Add("Router:RouteCacheSize and Router:RouteCacheNegativeSize must be at least 1.");
        }

        if (options.RouteCachePushTtl <= TimeSpan.Zero)
        {
            errors.Add("Router:RouteCachePushTtl must be more than 0 (it is raised to Router:RouteCacheTtl when shorter).");
        }

        if (options.MaxSockets < 1)
        {
            errors.Add("Router:MaxSockets must be at least 1.");
        }

        if (options.UnknownHostStatus is < 400 or > 599)
        {
            errors.Add($"Router:UnknownHostStatus must be a 4xx or 5xx status (is {options.UnknownHostStatus}).");
        }

        if (!Routing.StatusSet.TryParse(options.FailureStatuses, out _, out var statusError))
        {
            errors.Add($"Router:FailureStatuses: {statusError}");
        }

        if (options.EjectAfter is < 1)
        {
            errors.Add("Router:EjectAfter must be at least 1.");
        }

        if (options.MaxRequestBodySize is <= 0)
        {
            errors.Add("Router:MaxRequestBodySize must be positive, or absent for no limit.");
        }

        if (options.RequestHeadersTimeout <= TimeSpan.Zero)
        {
            errors.Add("Router:RequestHeadersTimeout must be more than 0.");
        }

        if (options.MinRequestBodyDataRate < 0 || options.MinResponseDataRate < 0)
        {
            errors.Add("Router:MinRequestBodyDataRate and Router:MinResponseDataRate must be 0 (off) or more bytes per second.");
        }

        // Kestrel checks data rates once a second: a shorter grace period could never be honoured.
        if (options.MinDataRateGracePeriod <= TimeSpan.FromSeconds(1))
        {
            errors.Add("Router:MinDataRateGracePeriod must be more than one second.");
        }

        if (options.MaxConcurrentRequestsPerFrontend < 0)
        {
            errors.Add("Router:MaxConcurrentRequestsPerFrontend must be 0 (no limit) or more.");
        }

        if (options.StoreCheckInterval < TimeSpan.FromMilliseconds(100))
        {
            errors.Add("Router:StoreCheckInterval must be at least 100 ms.");
        }

        if (options.RegistryHeartbeat < TimeSpan.FromMilliseconds(100))
        {
            errors.Add("Router:RegistryHeartbeat must be at least 100 ms.");
        }

        if (options.RegistryTtl < 2 * options.RegistryHeartbeat)
        {
            errors.Add("Router:RegistryTtl must be at least two Router:RegistryHeartbeat intervals, or one late heartbeat drops a live router from the registry.");
        }

        foreach (var proxy in options.TrustedProxies)
        {
            if (!System.Net.IPNetwork.TryParse(proxy, out _) && !System.Net.IPAddress.TryParse(proxy, out _))
            {
                errors.Add($"Router:TrustedProxies entry '{proxy}' is neither an IP address nor a CIDR range.");
            }
        }

        if (options.FailureWindow <= TimeSpan.Zero || options.MaxEjectionTime < options.DeadBackendTtl)
        {
            errors.Add("Router:FailureWindow must be more than 0 and Router:MaxEjectionTime at least Router:DeadBackendTtl.");
        }

        if (options.MaxEjectedPercent is < 1 or > 100)
        {
            errors.Add($"Router:MaxEjectedPercent must be 1-100 (is {options.MaxEjectedPercent}).");
        }

        var check = options.HealthCheck;
        if (check.Enabled)
        {
            if (check.Interval < TimeSpan.FromMilliseconds(100) || check.Timeout <= TimeSpan.Zero || check.Timeout >= check.Interval)
            {
                errors.Add("Router:HealthCheck:Interval must be at least 100 ms and Router:HealthCheck:Timeout more than 0 and less than the interval.");
            }

            if (check.Fall is < 1 or > 100 || check.Rise is < 1 or > 100)
            {
                errors.Add($"Router:HealthCheck:Fall and Rise must be 1-100 (are {check.Fall} and {check.Rise}).");
            }

            if (check.Jitter is < 0 or > 0.5)
            {
                errors.Add($"Router:HealthCheck:Jitter must be 0-0.5 of the interval (is {check.Jitter}).");
            }

            if (!check.Path.StartsWith('/') || check.Path.Any(c => c <= ' ' || c >= 0x7f))
            {
                errors.Add($"Router:HealthCheck:Path must be an origin-form path starting with / (is '{check.Path}').");
            }

            if (!Enum.IsDefined(check.Mode))
            {
                errors.Add($"Router:HealthCheck:Mode must be Http or Tcp (is {check.Mode}).");
            }

            if (check.TableRefresh < TimeSpan.FromMilliseconds(100) || check.MaxConcurrentProbes < 1)
            {
                errors.Add("Router:HealthCheck:TableRefresh must be at least 100 ms and MaxConcurrentProbes at least 1.");
            }
        }

        if (!Enum.IsDefined(options.Forwarder))
        {
            errors.Add($"Router:Forwarder must be Native or Yarp (is {options.Forwarder}).");
        }

        if (!Enum.IsDefined(options.IoEngine))
        {
            errors.Add($"Router:IoEngine must be Sockets or Epoll (is {options.IoEngine}).");
        }
        else if (options.IoEngine == IoEngineKind.Epoll && !OperatingSystem.IsLinux())
        {
            errors.Add("Router:IoEngine=Epoll needs Linux (epoll); use Sockets on this system.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
