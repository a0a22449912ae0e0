config = {'allowed-extensions': {'.tar.gz'}, 'threebot-seed': b'\x000123456789abcdef0123456789abcde', 'guest-token': None, 'x': [1, 'a', ('b',)]}
