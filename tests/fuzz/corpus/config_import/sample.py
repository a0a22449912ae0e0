#
# a hub configured like the original's sample
#
config = {
    ## internal 0-db
    'backend-internal-host': "zdb.internal",
    'backend-internal-port': 9900,
    'backend-internal-pass': 'zdb "secret"',
    'backend-internal-name': 'default',
    'backend-public-host': "hub.example.org",  # shown to users
    'backend-public-port': 9900,
    'backend-public-name': "default",
    'public-website': "https://hub.example.org",
    'listen-addr': '::',
    'listen-port': 5555,
    'ignored-files': ['.', '..', '.keep'],
    'official-repositories': ['official-apps', 'dockers'],
    'zflist-bin': '/opt/0-flist/zflist/zflist',
    # 'userdata-root-path': '/opt/0-hub/public',
    'authentication': True,
    'iyo-clientid': '',
    'iyo-secret': '',
    'iyo-callback': 'http://127.0.0.1:5555/_iyo_callback',
    'threebot-privatekey': 'Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=',
    'threebot-appid': 'hub.example.org',
    'threebot-seed': b'0123456789abcdef\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\xff',
    'threebot-users-map': {'official-apps': 'tfofficial.3bot'},
    'guest-token': None,
    'readonly': False,
    'debug': True,
}
