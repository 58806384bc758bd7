"""The event topics the simulated camera produces, as data: the ONVIF Core topics a camera of
this kind has, with the Source and Data items each message carries, plus one vendor topic
(``tnssim:``) so that a client's handling of topics it does not know can be tested.

Each entry gives the message description ``GetEventProperties`` publishes and the items the
camera fills in; ``property`` topics keep a state that ``SetSynchronizationPoint`` re-sends.
"""

from __future__ import annotations

from dataclasses import dataclass

Item = tuple[str, str]  # (Name, xs type)

VIDEO_SOURCE: tuple[Item, ...] = (("Source", "tt:ReferenceToken"),)
RULE_SOURCE: tuple[Item, ...] = (("VideoSourceConfigurationToken", "tt:ReferenceToken"),
                                 ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
                                 ("Rule", "xs:string"))


@dataclass(frozen=True)
class Topic:
    path: str  # prefixed: "tns1:RuleEngine/CellMotionDetector/Motion"
    is_property: bool
    source: tuple[Item, ...]
    data: tuple[Item, ...]

    @property
    def prefix(self) -> str:
        return self.path.partition(":")[0]

    @property
    def parts(self) -> list[str]:
        return self.path.partition(":")[2].split("/")


CELL_MOTION = Topic("tns1:RuleEngine/CellMotionDetector/Motion", True, RULE_SOURCE,
                    (("IsMotion", "xs:boolean"),))
MOTION_ALARM = Topic("tns1:VideoSource/MotionAlarm", True, VIDEO_SOURCE,
                     (("State", "xs:boolean"),))
SCENE_CHANGE = Topic("tns1:VideoSource/GlobalSceneChange/ImagingService", True, VIDEO_SOURCE,
                     (("State", "xs:boolean"),))
TOO_DARK = Topic("tns1:VideoSource/ImageTooDark/ImagingService", True, VIDEO_SOURCE,
                 (("State", "xs:boolean"),))
TOO_BRIGHT = Topic("tns1:VideoSource/ImageTooBright/ImagingService", True, VIDEO_SOURCE,
                   (("State", "xs:boolean"),))
TOO_BLURRY = Topic("tns1:VideoSource/ImageTooBlurry/ImagingService", True, VIDEO_SOURCE,
                   (("State", "xs:boolean"),))
LINE_CROSSED = Topic("tns1:RuleEngine/LineDetector/Crossed", False, RULE_SOURCE,
                     (("ObjectId", "xs:integer"),))
FIELD_INSIDE = Topic("tns1:RuleEngine/FieldDetector/ObjectsInside", True, RULE_SOURCE,
                     (("IsInside", "xs:boolean"),))
DIGITAL_INPUT = Topic("tns1:Device/Trigger/DigitalInput", True,
                      (("InputToken", "tt:ReferenceToken"),), (("LogicalState", "xs:boolean"),))
VENDOR = Topic("tnssim:Diagnostics/FanFailure", True, (("Fan", "xs:string"),),
               (("Failed", "xs:boolean"), ("Rpm", "xs:int")))

TOPICS: tuple[Topic, ...] = (CELL_MOTION, MOTION_ALARM, SCENE_CHANGE, TOO_DARK, TOO_BRIGHT,
                             TOO_BLURRY, LINE_CROSSED, FIELD_INSIDE, DIGITAL_INPUT, VENDOR)
