"""GB/T 26875.3-2011: the gateway as monitoring centre for fire user information transmission
devices (用户信息传输装置).

``codec`` reads and writes frames and application data (pure), ``models`` is the site-file
section, ``panel_state`` turns reported statuses into fire events, and ``driver`` runs the TCP
server that transmission devices connect to.
"""
