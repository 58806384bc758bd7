"""The ONVIF operations the simulated camera answers, written to the ver10/ver20 WSDLs.

Device (``tds``), Media ver10 (``trt``), Events (``tev`` with the WS-BaseNotification
operations on each pull point) and PTZ ver20 (``tptz``). Only services that are served are
advertised: GetServices and GetCapabilities never name Media2, Imaging or DeviceIO, because a
client that sees them moves to them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from simulators.onvif.events import CONCRETE_SET, PullPointSubscription, TopicFilter
from simulators.onvif.soap import (
    NS,
    Answer,
    SoapFault,
    SoapRequest,
    absolute_or_relative,
    add,
    invalid_arg,
    parse_duration,
    q,
)
from simulators.onvif.topics import TOPICS
from simulators.onvif.xmltree import etree

if TYPE_CHECKING:
    from simulators.onvif.camera import SimulatedCamera

Handler = Callable[[SoapRequest, Answer], Awaitable[None]]

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
EVENTS_PATH = "/onvif/event_service"
PTZ_PATH = "/onvif/ptz_service"
SUBSCRIPTION_PATH = "/onvif/subscription"
UNAUTHENTICATED = {(NS["tds"], "GetSystemDateAndTime")}
SUBSCRIPTION_OPERATIONS = {"PullMessages", "SetSynchronizationPoint", "Renew", "Unsubscribe",
                           "Seek"}
MAX_PULL_TIMEOUT = timedelta(minutes=5)
MAX_MESSAGE_LIMIT = 1024
DEFAULT_TERMINATION = timedelta(minutes=1)
MAX_TERMINATION = timedelta(days=1)
PAN_TILT_POSITION = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
ZOOM_POSITION = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
PAN_TILT_SPEED = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace"
ZOOM_SPEED = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace"
EVENTS_ACTION = "http://www.onvif.org/ver10/events/wsdl"
WSN_ACTION = "http://docs.oasis-open.org/wsn/bw-2"


class OnvifServices:
    def __init__(self, camera: SimulatedCamera) -> None:
        self.camera = camera
        tds, trt, tev, tptz, wsnt = (NS[p] for p in ("tds", "trt", "tev", "tptz", "wsnt"))
        self.handlers: dict[tuple[str, str], Handler] = {
            (tds, "GetSystemDateAndTime"): self.get_system_date_and_time,
            (tds, "GetServices"): self.get_services,
            (tds, "GetServiceCapabilities"): self.device_service_capabilities,
            (tds, "GetCapabilities"): self.get_capabilities,
            (tds, "GetDeviceInformation"): self.get_device_information,
            (tds, "GetNetworkInterfaces"): self.get_network_interfaces,
            (tds, "GetScopes"): self.get_scopes,
            (tds, "GetHostname"): self.get_hostname,
            (tds, "SystemReboot"): self.system_reboot,
            (trt, "GetServiceCapabilities"): self.media_service_capabilities,
            (trt, "GetProfiles"): self.get_profiles,
            (trt, "GetProfile"): self.get_profile,
            (trt, "GetVideoSources"): self.get_video_sources,
            (trt, "GetStreamUri"): self.get_stream_uri,
            (trt, "GetSnapshotUri"): self.get_snapshot_uri,
            (tev, "GetServiceCapabilities"): self.events_service_capabilities,
            (tev, "GetEventProperties"): self.get_event_properties,
            (tev, "CreatePullPointSubscription"): self.create_pull_point_subscription,
            (tev, "PullMessages"): self.pull_messages,
            (tev, "SetSynchronizationPoint"): self.set_synchronization_point,
            (tev, "Seek"): self.seek,
            (wsnt, "Renew"): self.renew,
            (wsnt, "Unsubscribe"): self.unsubscribe,
        }
        if camera.head.enabled:
            self.handlers.update({
                (tptz, "GetServiceCapabilities"): self.ptz_service_capabilities,
                (tptz, "GetNodes"): self.get_nodes,
                (tptz, "GetConfigurations"): self.get_configurations,
                (tptz, "GetPresets"): self.get_presets,
                (tptz, "GotoPreset"): self.goto_preset,
                (tptz, "GotoHomePosition"): self.goto_home_position,
                (tptz, "GetStatus"): self.get_status,
                (tptz, "Stop"): self.stop,
            })

    def handler(self, request: SoapRequest) -> Handler:
        found = self.handlers.get(request.name)
        if request.name[0] == NS["tev"] and not self._events_served:
            found = None  # a camera without an events service (dialect)
        if found is None:
            namespace, name = request.name
            raise SoapFault(f"{name} ({namespace}) is not supported by this device",
                            "ter:ActionNotSupported", code="Receiver", status=400)
        return found

    # --- device --------------------------------------------------------------------------------

    async def get_system_date_and_time(self, request: SoapRequest, answer: Answer) -> None:
        now = self.camera.clock.now()
        out = add(answer.body, "tds:GetSystemDateAndTimeResponse")
        info = add(out, "tds:SystemDateAndTime")
        add(info, "tt:DateTimeType", "Manual")
        add(info, "tt:DaylightSavings", False)
        add(add(info, "tt:TimeZone"), "tt:TZ", "UTC0")
        for name in ("tt:UTCDateTime", "tt:LocalDateTime"):
            stamp = add(info, name)
            time_el = add(stamp, "tt:Time")
            add(time_el, "tt:Hour", now.hour)
            add(time_el, "tt:Minute", now.minute)
            add(time_el, "tt:Second", now.second)
            date = add(stamp, "tt:Date")
            add(date, "tt:Year", now.year)
            add(date, "tt:Month", now.month)
            add(date, "tt:Day", now.day)

    @property
    def _events_served(self) -> bool:
        return self.camera.config.simulator.events_service

    def _services(self) -> list[tuple[str, str, tuple[int, int]]]:
        base = self.camera.base_url
        services = [(NS["tds"], base + DEVICE_PATH, (2, 60)),
                    (NS["trt"], base + MEDIA_PATH, (2, 60))]
        if self._events_served:
            services.append((NS["tev"], base + EVENTS_PATH, (2, 60)))
        if self.camera.head.enabled:
            services.append((NS["tptz"], base + PTZ_PATH, (2, 60)))
        return services

    async def get_services(self, request: SoapRequest, answer: Answer) -> None:
        include = (request.text("IncludeCapability") or "false").lower() in ("true", "1")
        out = add(answer.body, "tds:GetServicesResponse")
        builders = {NS["tds"]: self._device_capabilities, NS["trt"]: self._media_capabilities,
                    NS["tev"]: self._events_capabilities, NS["tptz"]: self._ptz_capabilities}
        for namespace, xaddr, (major, minor) in self._services():
            service = add(out, "tds:Service")
            add(service, "tds:Namespace", namespace)
            add(service, "tds:XAddr", xaddr)
            if include:
                builders[namespace](add(service, "tds:Capabilities"))
            version = add(service, "tds:Version")
            add(version, "tt:Major", major)
            add(version, "tt:Minor", minor)

    def _device_capabilities(self, parent: etree._Element) -> None:
        caps = add(parent, "tds:Capabilities")
        add(caps, "tds:Network", IPFilter=False, ZeroConfiguration=False, IPVersion6=False,
            DynDNS=False, HostnameFromDHCP=False, NTP=0)
        add(caps, "tds:Security", **{"TLS1.2": False}, UsernameToken=True, HttpDigest=False,
            MaxUsers=1)
        add(caps, "tds:System", DiscoveryResolve=True, DiscoveryBye=True, RemoteDiscovery=False,
            SystemBackup=False, SystemLogging=False, FirmwareUpgrade=False)

    def _media_capabilities(self, parent: etree._Element) -> None:
        caps = add(parent, "trt:Capabilities", SnapshotUri=True, Rotation=False,
                   VideoSourceMode=False, OSD=False)
        add(caps, "trt:ProfileCapabilities", MaximumNumberOfProfiles=len(self.camera.profiles))
        rtsp = self.camera.rtsp_port is not None
        add(caps, "trt:StreamingCapabilities", RTPMulticast=False, RTP_TCP=rtsp,
            RTP_RTSP_TCP=rtsp, NonAggregateControl=False, NoRTSPStreaming=not rtsp)

    def _events_capabilities(self, parent: etree._Element) -> None:
        add(parent, "tev:Capabilities", WSSubscriptionPolicySupport=False,
            WSPullPointSupport=True, WSPausableSubscriptionManagerInterfaceSupport=False,
            MaxNotificationProducers=0, MaxPullPoints=32, PersistentNotificationStorage=False)

    def _ptz_capabilities(self, parent: etree._Element) -> None:
        add(parent, "tptz:Capabilities", EFlip=False, Reverse=False,
            GetCompatibleConfigurations=False)

    async def device_service_capabilities(self, request: SoapRequest, answer: Answer) -> None:
        self._device_capabilities(add(answer.body, "tds:GetServiceCapabilitiesResponse"))

    async def get_capabilities(self, request: SoapRequest, answer: Answer) -> None:
        categories = {c.text.strip() for c in request.operation
                      if isinstance(c.tag, str) and c.text} or {"All"}
        known = {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"}
        if not categories <= known:
            raise invalid_arg(f"unknown capability category {sorted(categories - known)}")

        def wanted(name: str) -> bool:
            return "All" in categories or name in categories

        served = ({"Device", "Media"} | ({"Events"} if self._events_served else set())
                  | ({"PTZ"} if self.camera.head.enabled else set()))
        if not any(wanted(name) for name in served):
            raise SoapFault("the device has no such capability", "ter:ActionNotSupported",
                            "ter:NoSuchService", code="Receiver")
        base = self.camera.base_url
        caps = add(add(answer.body, "tds:GetCapabilitiesResponse"), "tds:Capabilities")
        if wanted("Device"):
            device = add(caps, "tt:Device")
            add(device, "tt:XAddr", base + DEVICE_PATH)
            network = add(device, "tt:Network")
            for name in ("IPFilter", "ZeroConfiguration", "IPVersion6", "DynDNS"):
                add(network, f"tt:{name}", False)
            system = add(device, "tt:System")
            for name, value in (("DiscoveryResolve", True), ("DiscoveryBye", True),
                                ("RemoteDiscovery", False), ("SystemBackup", False),
                                ("SystemLogging", False), ("FirmwareUpgrade", False)):
                add(system, f"tt:{name}", value)
            for major, minor in ((2, 60), (2, 40), (2, 20)):
                version = add(system, "tt:SupportedVersions")
                add(version, "tt:Major", major)
                add(version, "tt:Minor", minor)
            io = add(device, "tt:IO")
            add(io, "tt:InputConnectors", len(self.camera.inputs))
            add(io, "tt:RelayOutputs", 0)
            security = add(device, "tt:Security")
            for name in ("TLS1.1", "TLS1.2", "OnboardKeyGeneration", "AccessPolicyConfig",
                         "X.509Token", "SAMLToken", "KerberosToken", "RELToken"):
                add(security, f"tt:{name}", False)
        if wanted("Events") and self._events_served:
            events = add(caps, "tt:Events")
            add(events, "tt:XAddr", base + EVENTS_PATH)
            add(events, "tt:WSSubscriptionPolicySupport", False)
            add(events, "tt:WSPullPointSupport", True)
            add(events, "tt:WSPausableSubscriptionManagerInterfaceSupport", False)
        if wanted("Media"):
            media = add(caps, "tt:Media")
            add(media, "tt:XAddr", base + MEDIA_PATH)
            streaming = add(media, "tt:StreamingCapabilities")
            rtsp = self.camera.rtsp_port is not None
            add(streaming, "tt:RTPMulticast", False)
            add(streaming, "tt:RTP_TCP", rtsp)
            add(streaming, "tt:RTP_RTSP_TCP", rtsp)
        if wanted("PTZ") and self.camera.head.enabled:
            add(add(caps, "tt:PTZ"), "tt:XAddr", base + PTZ_PATH)

    async def get_device_information(self, request: SoapRequest, answer: Answer) -> None:
        options = self.camera.config.simulator
        out = add(answer.body, "tds:GetDeviceInformationResponse")
        add(out, "tds:Manufacturer", options.manufacturer)
        add(out, "tds:Model", options.model)
        add(out, "tds:FirmwareVersion", options.firmware)
        add(out, "tds:SerialNumber", self.camera.serial)
        add(out, "tds:HardwareId", f"{options.model}-HW1")

    async def get_network_interfaces(self, request: SoapRequest, answer: Answer) -> None:
        out = add(answer.body, "tds:GetNetworkInterfacesResponse")
        interface = add(out, "tds:NetworkInterfaces", token="eth0")
        add(interface, "tt:Enabled", True)
        info = add(interface, "tt:Info")
        add(info, "tt:Name", "eth0")
        add(info, "tt:HwAddress", self.camera.mac)
        add(info, "tt:MTU", 1500)
        ipv4 = add(interface, "tt:IPv4")
        add(ipv4, "tt:Enabled", True)
        config = add(ipv4, "tt:Config")
        manual = add(config, "tt:Manual")
        add(manual, "tt:Address", self.camera.advertised_host)
        add(manual, "tt:PrefixLength", 24)
        add(config, "tt:DHCP", False)

    async def get_scopes(self, request: SoapRequest, answer: Answer) -> None:
        out = add(answer.body, "tds:GetScopesResponse")
        for scope, fixed in self.camera.scopes():
            item = add(out, "tds:Scopes")
            add(item, "tt:ScopeDef", "Fixed" if fixed else "Configurable")
            add(item, "tt:ScopeItem", scope)

    async def get_hostname(self, request: SoapRequest, answer: Answer) -> None:
        info = add(add(answer.body, "tds:GetHostnameResponse"), "tds:HostnameInformation")
        add(info, "tt:FromDHCP", False)
        add(info, "tt:Name", self.camera.hostname)

    async def system_reboot(self, request: SoapRequest, answer: Answer) -> None:
        add(add(answer.body, "tds:SystemRebootResponse"), "tds:Message",
            "Rebooting in 1 second")
        self.camera.schedule_reboot(delay=0.2)

    # --- media ---------------------------------------------------------------------------------

    async def media_service_capabilities(self, request: SoapRequest, answer: Answer) -> None:
        self._media_capabilities(add(answer.body, "trt:GetServiceCapabilitiesResponse"))

    def _profile(self, parent: etree._Element, element: str, token: str) -> None:
        camera = self.camera
        spec = camera.profile(token)
        profile = add(parent, element, token=spec.token, fixed=True)
        add(profile, "tt:Name", spec.name)
        width, height = camera.config.simulator.size
        source = add(profile, "tt:VideoSourceConfiguration", token="VideoSourceConfig_1")
        add(source, "tt:Name", "VideoSourceConfig_1")
        add(source, "tt:UseCount", len(camera.profiles))
        add(source, "tt:SourceToken", camera.video_source)
        add(source, "tt:Bounds", x=0, y=0, width=width, height=height)
        encoder = add(profile, "tt:VideoEncoderConfiguration", token=spec.encoder_token)
        add(encoder, "tt:Name", spec.encoder_token)
        add(encoder, "tt:UseCount", 1)
        add(encoder, "tt:Encoding", camera.encoding)
        resolution = add(encoder, "tt:Resolution")
        add(resolution, "tt:Width", spec.width)
        add(resolution, "tt:Height", spec.height)
        add(encoder, "tt:Quality", 4.0)
        rate = add(encoder, "tt:RateControl")
        fps = max(1, round(camera.config.simulator.fps))
        add(rate, "tt:FrameRateLimit", fps)
        add(rate, "tt:EncodingInterval", 1)
        add(rate, "tt:BitrateLimit", 1024 if spec.token == camera.profiles[0].token else 256)
        if camera.encoding == "H264":
            h264 = add(encoder, "tt:H264")
            add(h264, "tt:GovLength", fps)
            add(h264, "tt:H264Profile", "Baseline")
        multicast = add(encoder, "tt:Multicast")
        address = add(multicast, "tt:Address")
        add(address, "tt:Type", "IPv4")
        add(address, "tt:IPv4Address", "0.0.0.0")
        add(multicast, "tt:Port", 0)
        add(multicast, "tt:TTL", 1)
        add(multicast, "tt:AutoStart", False)
        add(encoder, "tt:SessionTimeout", "PT60S")
        if camera.head.enabled:
            self._ptz_configuration(profile, "tt:PTZConfiguration")

    def _ptz_configuration(self, parent: etree._Element, element: str) -> None:
        ptz = add(parent, element, token="PTZConfig_1")
        add(ptz, "tt:Name", "PTZConfig_1")
        add(ptz, "tt:UseCount", len(self.camera.profiles))
        add(ptz, "tt:NodeToken", "PTZNode_1")
        add(ptz, "tt:DefaultAbsolutePantTiltPositionSpace", PAN_TILT_POSITION)
        add(ptz, "tt:DefaultAbsoluteZoomPositionSpace", ZOOM_POSITION)
        speed = add(ptz, "tt:DefaultPTZSpeed")
        add(speed, "tt:PanTilt", x=1.0, y=1.0, space=PAN_TILT_SPEED)
        add(speed, "tt:Zoom", x=1.0, space=ZOOM_SPEED)
        add(ptz, "tt:DefaultPTZTimeout", "PT5S")

    def _profile_token(self, request: SoapRequest) -> str:
        token = request.text("ProfileToken")
        if not token:
            raise invalid_arg("ProfileToken is required", "ter:NoProfile")
        self._known_profile(token)
        return token

    def _known_profile(self, token: str) -> None:
        if token not in {p.token for p in self.camera.profiles}:
            raise invalid_arg(f"no profile {token!r}", "ter:NoProfile")

    async def get_profiles(self, request: SoapRequest, answer: Answer) -> None:
        out = add(answer.body, "trt:GetProfilesResponse")
        for spec in self.camera.profiles:
            self._profile(out, "trt:Profiles", spec.token)

    async def get_profile(self, request: SoapRequest, answer: Answer) -> None:
        token = self._profile_token(request)
        self._profile(add(answer.body, "trt:GetProfileResponse"), "trt:Profile", token)

    async def get_video_sources(self, request: SoapRequest, answer: Answer) -> None:
        width, height = self.camera.config.simulator.size
        out = add(answer.body, "trt:GetVideoSourcesResponse")
        source = add(out, "trt:VideoSources", token=self.camera.video_source)
        add(source, "tt:Framerate", float(self.camera.config.simulator.fps))
        resolution = add(source, "tt:Resolution")
        add(resolution, "tt:Width", width)
        add(resolution, "tt:Height", height)

    def _media_uri(self, answer: Answer, element: str, uri: str) -> None:
        media = add(add(answer.body, element), "trt:MediaUri")
        add(media, "tt:Uri", uri)
        add(media, "tt:InvalidAfterConnect", False)
        add(media, "tt:InvalidAfterReboot", False)
        add(media, "tt:Timeout", "PT0S")

    async def get_stream_uri(self, request: SoapRequest, answer: Answer) -> None:
        token = self._profile_token(request)
        stream = request.text("StreamSetup", "Stream") or "RTP-Unicast"
        protocol = request.text("StreamSetup", "Transport", "Protocol") or "RTSP"
        if stream != "RTP-Unicast":
            raise invalid_arg(f"stream type {stream} is not supported (RTP-Unicast only)",
                              "ter:InvalidStreamSetup")
        if protocol not in ("UDP", "TCP", "RTSP", "HTTP"):
            raise invalid_arg(f"unknown transport {protocol}", "ter:InvalidStreamSetup")
        uri = None if protocol == "HTTP" else self.camera.rtsp_url(token)
        self._media_uri(answer, "trt:GetStreamUriResponse", uri or self.camera.mjpeg_url(token))

    async def get_snapshot_uri(self, request: SoapRequest, answer: Answer) -> None:
        token = self._profile_token(request)
        self._media_uri(answer, "trt:GetSnapshotUriResponse", self.camera.snapshot_url(token))

    # --- events --------------------------------------------------------------------------------

    async def events_service_capabilities(self, request: SoapRequest, answer: Answer) -> None:
        self._events_capabilities(add(answer.body, "tev:GetServiceCapabilitiesResponse"))

    async def get_event_properties(self, request: SoapRequest, answer: Answer) -> None:
        answer.respond_to(f"{EVENTS_ACTION}/EventPortType/GetEventPropertiesResponse")
        out = add(answer.body, "tev:GetEventPropertiesResponse")
        add(out, "tev:TopicNamespaceLocation",
            "http://www.onvif.org/onvif/ver10/topics/topicns.xml")
        add(out, "wsnt:FixedTopicSet", True)
        topic_set = add(out, "wstop:TopicSet")
        for topic in TOPICS:
            node = topic_set
            namespace = NS[topic.prefix]
            for part in topic.parts:
                found = next((c for c in node if c.tag == f"{{{namespace}}}{part}"), None)
                node = found if found is not None else etree.SubElement(
                    node, f"{{{namespace}}}{part}")
            node.set(q("wstop:topic"), "true")
            description = add(node, "tt:MessageDescription", IsProperty=topic.is_property)
            for group, items in (("tt:Source", topic.source), ("tt:Data", topic.data)):
                holder = add(description, group)
                for name, kind in items:
                    add(holder, "tt:SimpleItemDescription", Name=name, Type=kind)
        add(out, "wsnt:TopicExpressionDialect",
            "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete")
        add(out, "wsnt:TopicExpressionDialect", CONCRETE_SET)
        add(out, "tev:MessageContentFilterDialect",
            "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter")
        add(out, "tev:MessageContentSchemaLocation",
            "http://www.onvif.org/onvif/ver10/schema/onvif.xsd")

    def _termination(self, text: str | None) -> tuple[datetime, datetime]:
        now = self.camera.clock.now()
        if not text:
            return now, now + DEFAULT_TERMINATION
        termination = absolute_or_relative(text, now)
        if termination <= now:
            raise SoapFault("the termination time is in the past",
                            "wsnt:UnacceptableInitialTerminationTimeFault")
        return now, min(termination, now + MAX_TERMINATION)

    async def create_pull_point_subscription(self, request: SoapRequest, answer: Answer) -> None:
        now, termination = self._termination(request.text("InitialTerminationTime"))
        topic_filter = TopicFilter.parse(request.child("Filter"))
        subscription = self.camera.events.subscribe(termination, topic_filter)
        answer.respond_to(f"{EVENTS_ACTION}/EventPortType/CreatePullPointSubscriptionResponse")
        out = add(answer.body, "tev:CreatePullPointSubscriptionResponse")
        reference = add(out, "tev:SubscriptionReference")
        add(reference, "wsa:Address", subscription.address)
        add(out, "wsnt:CurrentTime", now)
        add(out, "wsnt:TerminationTime", termination)

    def _subscription(self, request: SoapRequest) -> PullPointSubscription:
        token = request.context.get("subscription")
        subscription = self.camera.events.find(token) if token else None
        if subscription is None:
            detail = etree.Element(q("wsrf-r:ResourceUnknownFault"))
            add(detail, "wsrf-bf:Timestamp", self.camera.clock.now())
            raise SoapFault("unknown subscription: it expired, was unsubscribed or the device "
                            "restarted", "ter:InvalidArgVal", detail=detail)
        return subscription

    async def pull_messages(self, request: SoapRequest, answer: Answer) -> None:
        subscription = self._subscription(request)
        timeout_text = request.text("Timeout")
        limit_text = request.text("MessageLimit")
        if not timeout_text or not limit_text:
            raise invalid_arg("PullMessages needs Timeout and MessageLimit")
        timeout = parse_duration(timeout_text)
        try:
            limit = int(limit_text)
        except ValueError:
            raise invalid_arg(f"MessageLimit {limit_text!r} is not an integer") from None
        if timeout > MAX_PULL_TIMEOUT or limit > MAX_MESSAGE_LIMIT or limit < 1 \
                or timeout.total_seconds() < 0:
            detail = etree.Element(q("tev:PullMessagesFaultResponse"))
            add(detail, "tev:MaxTimeout", MAX_PULL_TIMEOUT)
            add(detail, "tev:MaxMessageLimit", MAX_MESSAGE_LIMIT)
            raise SoapFault("Timeout or MessageLimit out of range", "ter:InvalidArgVal",
                            detail=detail)
        messages = await subscription.pull(self.camera.clock, timeout, limit)
        answer.respond_to(f"{EVENTS_ACTION}/PullPointSubscription/PullMessagesResponse")
        out = add(answer.body, "tev:PullMessagesResponse")
        add(out, "tev:CurrentTime", self.camera.clock.now())
        add(out, "tev:TerminationTime", subscription.termination)
        for message in messages:
            message.to_xml(out, None)
        abuse = self.camera.abuse
        abuse.add_to_pull(out, self.camera.clock.now())
        if abuse.pull_padding:
            request.context["padding"] = abuse.pull_padding
        if abuse.pull_malformed:
            request.context["malformed"] = abuse.pull_malformed

    async def set_synchronization_point(self, request: SoapRequest, answer: Answer) -> None:
        subscription = self._subscription(request)
        self.camera.events.synchronize(subscription)
        answer.respond_to(
            f"{EVENTS_ACTION}/PullPointSubscription/SetSynchronizationPointResponse")
        add(answer.body, "tev:SetSynchronizationPointResponse")

    async def seek(self, request: SoapRequest, answer: Answer) -> None:
        raise SoapFault("Seek is not supported: this device keeps no event history",
                        "ter:ActionNotSupported", code="Receiver")

    async def renew(self, request: SoapRequest, answer: Answer) -> None:
        subscription = self._subscription(request)
        text = request.text("TerminationTime")
        if not text:
            raise invalid_arg("Renew needs a TerminationTime")
        now, termination = self._termination(text)
        subscription.termination = termination
        answer.respond_to(f"{WSN_ACTION}/SubscriptionManager/RenewResponse")
        out = add(answer.body, "wsnt:RenewResponse")
        add(out, "wsnt:TerminationTime", termination)
        add(out, "wsnt:CurrentTime", now)

    async def unsubscribe(self, request: SoapRequest, answer: Answer) -> None:
        subscription = self._subscription(request)
        self.camera.events.drop(subscription.token)
        answer.respond_to(f"{WSN_ACTION}/SubscriptionManager/UnsubscribeResponse")
        add(answer.body, "wsnt:UnsubscribeResponse")

    # --- PTZ -----------------------------------------------------------------------------------

    async def ptz_service_capabilities(self, request: SoapRequest, answer: Answer) -> None:
        self._ptz_capabilities(add(answer.body, "tptz:GetServiceCapabilitiesResponse"))

    async def get_nodes(self, request: SoapRequest, answer: Answer) -> None:
        node = add(add(answer.body, "tptz:GetNodesResponse"), "tptz:PTZNode",
                   token="PTZNode_1", FixedHomePosition=True)
        add(node, "tt:Name", "PTZNode_1")
        spaces = add(node, "tt:SupportedPTZSpaces")
        pan_tilt = add(spaces, "tt:AbsolutePanTiltPositionSpace")
        add(pan_tilt, "tt:URI", PAN_TILT_POSITION)
        for axis in ("tt:XRange", "tt:YRange"):
            bounds = add(pan_tilt, axis)
            add(bounds, "tt:Min", -1.0)
            add(bounds, "tt:Max", 1.0)
        zoom = add(spaces, "tt:AbsoluteZoomPositionSpace")
        add(zoom, "tt:URI", ZOOM_POSITION)
        bounds = add(zoom, "tt:XRange")
        add(bounds, "tt:Min", 0.0)
        add(bounds, "tt:Max", 1.0)
        speed = add(spaces, "tt:PanTiltSpeedSpace")
        add(speed, "tt:URI", PAN_TILT_SPEED)
        bounds = add(speed, "tt:XRange")
        add(bounds, "tt:Min", 0.0)
        add(bounds, "tt:Max", 1.0)
        add(node, "tt:MaximumNumberOfPresets", len(self.camera.head.presets))
        add(node, "tt:HomeSupported", True)

    async def get_configurations(self, request: SoapRequest, answer: Answer) -> None:
        self._ptz_configuration(add(answer.body, "tptz:GetConfigurationsResponse"),
                                "tptz:PTZConfiguration")

    async def get_presets(self, request: SoapRequest, answer: Answer) -> None:
        self._profile_token(request)
        out = add(answer.body, "tptz:GetPresetsResponse")
        for preset in self.camera.head.presets:
            item = add(out, "tptz:Preset", token=preset.token)
            add(item, "tt:Name", preset.name)
            position = add(item, "tt:PTZPosition")
            add(position, "tt:PanTilt", x=preset.pan, y=preset.tilt, space=PAN_TILT_POSITION)
            add(position, "tt:Zoom", x=preset.zoom, space=ZOOM_POSITION)

    async def goto_preset(self, request: SoapRequest, answer: Answer) -> None:
        self._profile_token(request)
        token = request.text("PresetToken") or ""
        preset = self.camera.head.find(token)
        if preset is None or token != preset.token:
            raise invalid_arg(f"no preset with token {token!r}", "ter:NoToken")
        speed_el = request.child("Speed", "PanTilt")
        speed = None
        if speed_el is not None:
            try:
                speed = max(float(speed_el.get("x", "1")), float(speed_el.get("y", "1")))
            except ValueError:
                raise invalid_arg("Speed PanTilt x/y are not numbers") from None
        self.camera.turn_to(preset, speed)
        add(answer.body, "tptz:GotoPresetResponse")

    async def goto_home_position(self, request: SoapRequest, answer: Answer) -> None:
        self._profile_token(request)
        self.camera.turn_to(self.camera.head.presets[0], None)
        add(answer.body, "tptz:GotoHomePositionResponse")

    async def get_status(self, request: SoapRequest, answer: Answer) -> None:
        self._profile_token(request)
        head = self.camera.head
        position = head.position()
        status = add(add(answer.body, "tptz:GetStatusResponse"), "tptz:PTZStatus")
        where = add(status, "tt:Position")
        add(where, "tt:PanTilt", x=round(position.pan, 4), y=round(position.tilt, 4),
            space=PAN_TILT_POSITION)
        add(where, "tt:Zoom", x=round(position.zoom, 4), space=ZOOM_POSITION)
        moves = add(status, "tt:MoveStatus")
        add(moves, "tt:PanTilt", "MOVING" if head.moving() else "IDLE")
        add(moves, "tt:Zoom", "IDLE")
        add(status, "tt:UtcTime", self.camera.clock.now())

    async def stop(self, request: SoapRequest, answer: Answer) -> None:
        self._profile_token(request)
        self.camera.head.halt()
        add(answer.body, "tptz:StopResponse")

