"""The second alarm path: SIA DC-09 to an alarm receiving centre (the police's or a licensed
monitoring company's), supervised, encrypted and durable (docs: README, "The alarm receiving
centre").

Modules: ``dc09`` (the message block, its CRC and encryption, the receiver's answers),
``reports`` (SIA-DCS and Contact ID data, the event-code table), ``config`` (the site file's
``alarm_centre:``), ``queue`` (what the centre has not acknowledged, in the state database),
``link`` (one exchange with one receiver), ``path`` (the supervised part that sends).
"""
