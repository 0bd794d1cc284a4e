from phe import paillier as paillier
