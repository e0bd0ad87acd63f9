using Yarp.ReverseProxy.Forwarder;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// How one attempt on one backend ended, whichever forwarder made it: YARP's error kinds (the
/// native forwarder maps its failures onto them), the cause, and whether the failure happened
/// before any byte reached the backend (a connect failure: the backend is marked dead and the
/// request may go to another one, Q11).
/// </summary>
internal readonly record struct ForwardOutcome(ForwarderError Error, Exception? Exception, bool ConnectFailed)
{
    public static ForwardOutcome Success => default;
}
