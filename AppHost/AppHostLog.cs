using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.AppHost;

internal static partial class AppHostLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Redis source: {Source}")]
    public static partial void RedisSourceChosen(ILogger logger, string source);
}
