"""The console's words in zh-CN (the default) and English; one catalogue, used by the pages and
handed to the page script. A key missing in one language falls back to English, then the key."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Guard room",
        "login": "Log in", "logout": "Log out", "name": "Name", "password": "Password",
        "login_failed": "Wrong name or password.",
        "login_wait": "Several failed logins from this computer: wait a little, then try again.",
        "login_throttled": "Too many attempts from this computer: wait a while, then try again.",
        "start_duty": "Start duty", "on_duty": "On duty", "duty_hint":
            "Click “Start duty” so that alarms can sound on this computer.",
        "board": "Alarms", "map": "Map", "devices": "Devices", "events": "Events",
        "audit": "Audit", "language": "中文",
        "no_alarms": "No open alarms.",
        "acknowledge": "Acknowledge", "reset": "Reset", "police": "Record police call",
        "police_done": "Police called at", "details": "Details", "note": "Note",
        "closing_note": "Closing note (required)", "report_first": "First report sent",
        "report_written": "Written report sent", "report_general": "Report sent",
        "due_first": "First report", "due_written": "Written report",
        "due_general": "Incident report", "overdue": "OVERDUE", "done": "done",
        "since": "since", "ago": "ago", "raised": "Raised", "zone": "Zone",
        "location": "Location", "device": "Device", "point": "Point", "state": "State",
        "severity": "Severity", "by": "by", "timeline": "Timeline", "linkage": "Linkage",
        "deadlines": "Reports", "more_alarms": "more open alarms",
        "flood": "Alarm flood", "group_of": "alarms",
        "drill": "DRILL", "drill_banner": "Drill in progress: alarms are exercises",
        "drill_summary": "Drill summary", "drill_raised": "alarms raised",
        "drill_first_ack": "s to the first acknowledge", "drill_last_reset":
            "s to the last reset", "drill_open": "still open", "close": "Close",
        "online": "online", "offline": "OFFLINE", "last_report": "Last report",
        "outbox": "Outbox backlog", "broker": "Central platform link", "connected": "connected",
        "disconnected": "DISCONNECTED", "life_safety": "life-safety",
        "filter": "Filter", "type": "Type", "from": "From", "until": "Until", "time": "Time",
        "operator": "Operator", "command": "Command", "outcome": "Outcome", "error": "Error",
        "refused": "Refused", "no_map": "No campus map in the site file.",
        "gate_open": "Open", "viewer_hint": "Viewing only: no actions.",
        "outputs": "Outputs", "switch_on": "On", "switch_off": "Off",
        "connection_lost": "Connection to the gateway lost: reconnecting…",
        "active_unacknowledged": "ACTIVE", "active_acknowledged": "active, acknowledged",
        "rtn_unacknowledged": "cleared, not acknowledged", "rtn_acknowledged": "cleared",
        "closed": "closed",
        "critical": "CRITICAL", "major": "major", "minor": "minor", "info": "info",
        "c_panic": "Panic alarm", "c_fire": "Fire alarm", "c_pre_alarm": "Fire pre-alarm",
        "c_fault": "Fault", "c_supervisory": "Supervisory", "c_shielded": "Disabled point",
        "c_power_fault": "Power fault", "c_line_fault": "Line fault", "c_tamper": "Tamper",
        "c_comm_fault": "Device offline", "c_linkage_failed": "Linkage failed",
        "c_flooding": "Device flooding",
        "c_door_forced": "Door forced", "c_door_held_open": "Door held open",
        "c_reader_power": "Reader power fault", "c_visitor_overstayed": "Visitor overstayed",
        "access": "Gates & visitors", "lockdown": "Lockdown", "lockdown_on": "LOCKDOWN",
        "lockdown_off": "No lockdown", "lockdown_start": "Start lockdown",
        "lockdown_stop": "End lockdown", "fire_release": "Fire release: exits stand open",
        "gates": "Gates", "gate": "Gate", "mode": "Mode", "cause": "Cause",
        "mode_normal": "normal", "mode_locked": "locked", "mode_free": "open",
        "confirmed": "confirmed", "unconfirmed": "NOT CONFIRMED", "open_once": "Open once",
        "register_visitor": "Register a visitor", "visitor_name": "Visitor's name",
        "host": "Host (person id)", "purpose": "Purpose", "entries": "Entries",
        "register": "Register", "pass_code": "Pass code", "visits": "Open visits",
        "close_visit": "Close visit", "on_campus": "On campus now", "category": "Category",
        "roll_call": "Roll call", "nobody": "Nobody.", "print_pass": "Print",
        "staff": "staff", "student": "student", "visitor": "visitor",
        "contractor": "contractor", "credentials_version": "Credential list version",
    },
    "zh-CN": {
        "title": "值班室",
        "login": "登录", "logout": "退出", "name": "用户名", "password": "密码",
        "login_failed": "用户名或密码错误。",
        "login_wait": "此电脑多次登录失败，请稍候再试。",
        "login_throttled": "此电脑尝试次数过多，请稍候再试。",
        "start_duty": "开始值班", "on_duty": "值班中",
        "duty_hint": "请点击“开始值班”，本机才能播放报警声音。",
        "board": "报警", "map": "地图", "devices": "设备", "events": "事件",
        "audit": "审计", "language": "English",
        "no_alarms": "当前没有报警。",
        "acknowledge": "确认", "reset": "复位", "police": "记录已报警110",
        "police_done": "已报警110于", "details": "详情", "note": "备注",
        "closing_note": "处置说明（必填）", "report_first": "已首报",
        "report_written": "已书面报告", "report_general": "已报告",
        "due_first": "首报", "due_written": "书面报告", "due_general": "事件报告",
        "overdue": "已超时", "done": "已完成",
        "since": "自", "ago": "前", "raised": "发生时间", "zone": "区域",
        "location": "位置", "device": "设备", "point": "点位", "state": "状态",
        "severity": "级别", "by": "操作人", "timeline": "处置记录", "linkage": "联动",
        "deadlines": "上报", "more_alarms": "条其他报警",
        "flood": "报警泛滥", "group_of": "条报警",
        "drill": "演练", "drill_banner": "正在演练：以下报警为演练",
        "drill_summary": "演练总结", "drill_raised": "条报警",
        "drill_first_ack": "秒后首次确认", "drill_last_reset": "秒后全部复位",
        "drill_open": "条未关闭", "close": "关闭",
        "online": "在线", "offline": "离线", "last_report": "最近上报",
        "outbox": "待发送", "broker": "平台链路", "connected": "已连接",
        "disconnected": "已断开", "life_safety": "生命安全",
        "filter": "筛选", "type": "类型", "from": "从", "until": "到", "time": "时间",
        "operator": "操作人", "command": "命令", "outcome": "结果", "error": "错误",
        "refused": "已拒绝", "no_map": "场所文件中没有校园地图。",
        "gate_open": "开启", "viewer_hint": "仅查看：不能操作。",
        "outputs": "输出", "switch_on": "开", "switch_off": "关",
        "connection_lost": "与网关的连接中断，正在重连…",
        "active_unacknowledged": "报警中", "active_acknowledged": "报警中，已确认",
        "rtn_unacknowledged": "已恢复，未确认", "rtn_acknowledged": "已恢复",
        "closed": "已关闭",
        "critical": "紧急", "major": "重要", "minor": "一般", "info": "信息",
        "c_panic": "一键报警", "c_fire": "火警", "c_pre_alarm": "火灾预警",
        "c_fault": "故障", "c_supervisory": "监管", "c_shielded": "屏蔽",
        "c_power_fault": "电源故障", "c_line_fault": "线路故障", "c_tamper": "防拆",
        "c_comm_fault": "设备离线", "c_linkage_failed": "联动失败",
        "c_flooding": "设备上报泛滥",
        "c_door_forced": "门被强行打开", "c_door_held_open": "门长时间未关",
        "c_reader_power": "读卡器电源故障", "c_visitor_overstayed": "访客超时未离校",
        "access": "门禁与访客", "lockdown": "封闭管理", "lockdown_on": "封校中",
        "lockdown_off": "未封校", "lockdown_start": "启动封校", "lockdown_stop": "解除封校",
        "fire_release": "火警释放：疏散通道常开",
        "gates": "通道", "gate": "通道", "mode": "模式", "cause": "原因",
        "mode_normal": "正常", "mode_locked": "锁闭", "mode_free": "常开",
        "confirmed": "已确认", "unconfirmed": "未确认", "open_once": "开一次",
        "register_visitor": "访客登记", "visitor_name": "访客姓名",
        "host": "被访人（编号）", "purpose": "事由", "entries": "可进入次数",
        "register": "登记", "pass_code": "通行码", "visits": "未结束的来访",
        "close_visit": "结束来访", "on_campus": "当前在校人员", "category": "类别",
        "roll_call": "点名", "nobody": "无。", "print_pass": "打印",
        "staff": "教职工", "student": "学生", "visitor": "访客", "contractor": "外来施工",
        "credentials_version": "名单版本",
        "camera": "摄像机", "clip": "录像片段", "c_camera_tamper": "摄像机遮挡/移位",
        "c_crowding": "人员拥挤", "c_intrusion": "区域入侵",
    },
}


def catalogue(language: str) -> dict[str, str]:
    """Every key, in ``language`` where it has one, else in English."""
    return {**TEXT["en"], **TEXT.get(language, {})}


def pick(accept_language: str, default: str) -> str:
    """The console language for a browser that has no session yet."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default
