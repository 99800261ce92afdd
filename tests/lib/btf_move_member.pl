#!/usr/bin/perl
# btf_move_member.pl IN OUT STRUCT MEMBER BYTE_OFFSET: a copy of a BTF file
# with one member of one struct moved to another byte offset, the layout
# otherwise exact. Exits 1 if the struct or the member is not found.
use strict; use warnings;
my ($in, $out, $sname, $mname, $off) = @ARGV;
open(my $fh, '<:raw', $in) or die "$in: $!"; local $/; my $b = <$fh>; close $fh;
my ($magic, $ver, $flags, $hlen, $toff, $tlen, $soff, $slen) = unpack('v C C V V V V V', $b);
die "not BTF\n" unless $magic == 0xeB9F;
my $ts = $hlen + $toff; my $ss = $hlen + $soff;
sub str { my $o = shift; my $e = index($b, "\0", $ss + $o); substr($b, $ss + $o, $e - $ss - $o) }
my %extra = (1 => 4, 3 => 12, 14 => 4, 17 => 4);
my %per = (4 => 12, 5 => 12, 6 => 8, 13 => 8, 15 => 12, 19 => 12);
my $p = $ts; my $found = 0;
while ($p < $ts + $tlen) {
	my ($name, $info, $size) = unpack('V V V', substr($b, $p, 12));
	my $kind = ($info >> 24) & 0x1f; my $vlen = $info & 0xffff; my $kflag = $info >> 31;
	my $q = $p + 12;
	if ($kind == 4 && str($name) eq $sname) {
		for my $i (0 .. $vlen - 1) {
			my $m = $q + 12 * $i;
			my ($mn, $mt, $mo) = unpack('V V V', substr($b, $m, 12));
			next unless str($mn) eq $mname;
			my $new = $off * 8; $new |= ($mo & 0xff000000) if $kflag;
			substr($b, $m + 8, 4) = pack('V', $new);
			$found = 1;
		}
	}
	$p = $q + ($extra{$kind} // 0) + ($per{$kind} // 0) * $vlen;
}
exit 1 unless $found;
open(my $o, '>:raw', $out) or die "$out: $!"; print $o $b; close $o;
