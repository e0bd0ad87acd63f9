using System.Text;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// Response header names as strings without an allocation for the common ones. Only names Kestrel
/// knows are shared: it writes those in its own spelling anyway, while any other name keeps the
/// backend's spelling (issue #219).
/// </summary>
internal static class ResponseHeaderNames
{
    private static readonly string[] Known =
    [
        HeaderNames.ContentType, HeaderNames.Date, HeaderNames.Server, HeaderNames.CacheControl, HeaderNames.ETag,
        HeaderNames.LastModified, HeaderNames.SetCookie, HeaderNames.Location, HeaderNames.Vary, HeaderNames.ContentEncoding,
        HeaderNames.Expires, HeaderNames.Pragma, HeaderNames.AcceptRanges, HeaderNames.Age, HeaderNames.ContentLanguage,
        HeaderNames.ContentRange, HeaderNames.AccessControlAllowOrigin, HeaderNames.WWWAuthenticate, HeaderNames.RetryAfter,
    ];

    public static string Get(ReadOnlySpan<byte> name)
    {
        foreach (var known in Known)
        {
            if (known.Length == name.Length && Ascii.EqualsIgnoreCase(name, known))
            {
                return known;
            }
        }

        return Encoding.ASCII.GetString(name);
    }
}
