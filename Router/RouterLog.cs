namespace Hipache.Aspire.Router;

/// <summary>Start-up messages of the router host itself.</summary>
internal static partial class RouterLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Read the Hipache configuration file {Path}")]
    public static partial void HipacheConfigLoaded(ILogger logger, string path);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Hipache configuration: {Note}")]
    public static partial void HipacheConfigNote(ILogger logger, string note);
}
